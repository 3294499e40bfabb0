package server

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"

	"github.com/mypoll/mypoll/daemon/internal/proto"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

// Every permission decision of the server is in this file: who may control
// (policy, A.7) and which verbs need it (needsControl).

// needsControl reports whether v needs a peer allowed to control: the
// control requests (A.7) and open_device (A.9), which hands out the device.
func needsControl(v proto.Verb) bool {
	return v.Control() || v == proto.VerbOpenDevice
}

// permit reports whether c may send v; if not, it queues the EPERM reply.
func (s *Server) permit(c *client, v proto.Verb) bool {
	if !needsControl(v) || c.canControl {
		return true
	}
	c.log.Debug("request refused by the control policy", "verb", v.String())
	what := "control requests need"
	if !v.Control() {
		what = v.String() + " needs"
	}
	s.replyErr(c, v, proto.EPERM, what+" uid 0, the daemon's uid or group "+s.cfg.ControlGroup)
	return false
}

// policy decides who may send control requests (A.7).
type policy struct {
	restricted bool
	gid        uint32
	selfUID    uint32
}

func (p *policy) load(group string, lookup func(string) (uint32, error)) error {
	p.selfUID = uint32(os.Getuid())
	if group == "" {
		p.restricted = false
		return nil
	}
	gid, err := lookup(group)
	if err != nil {
		return fmt.Errorf("control group %q: %w", group, err)
	}
	p.restricted, p.gid = true, gid
	return nil
}

func (p *policy) allows(peer sys.Peer) bool {
	if !p.restricted || peer.UID == 0 || peer.UID == p.selfUID || peer.GID == p.gid {
		return true
	}
	return slices.Contains(peer.Groups, p.gid)
}

// LookupGroup resolves a group name (or a numeric gid) with os/user, which
// reads /etc/group in a static build.
func LookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		if id, perr := strconv.ParseUint(name, 10, 32); perr == nil {
			return uint32(id), nil
		}
		return 0, err
	}
	id, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %s has gid %q: %w", name, g.Gid, err)
	}
	return uint32(id), nil
}
