package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// The users and groups a board's build trees create (DESIGN.md §12), found
// by name in the image's /etc/passwd and /etc/group: the agent starts
// mypolld as daemonUser, as the init files do, and gives /dev/mypoll to
// deviceGroup, mode 0660, as init/udev/60-mypoll.rules does.
const (
	daemonUser   = "mypoll"
	deviceGroup  = "mypoll"
	controlGroup = "mypoll-ctl"
	deviceMode   = 0o660
)

// identity is a user's uid, primary gid and supplementary groups.
type identity struct {
	uid, gid uint32
	groups   []uint32
}

func lookupIdentity(name string) (*identity, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	id := &identity{}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %s: bad ids %s:%s", name, u.Uid, u.Gid)
	}
	id.uid, id.gid = uint32(uid), uint32(gid)
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("user %s: groups: %w", name, err)
	}
	for _, g := range gids {
		if v, err := strconv.ParseUint(g, 10, 32); err == nil {
			id.groups = append(id.groups, uint32(v))
		}
	}
	return id, nil
}

func (id *identity) credential() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: id.groups}}
}

func groupExists(name string) bool {
	_, err := user.LookupGroup(name)
	return err == nil
}

// applyDeviceRule gives the device node to deviceGroup with deviceMode, as
// the udev rule does on a board; without the group (an image without our
// users) it leaves the node alone.
func applyDeviceRule(log hclog.Logger) {
	g, err := user.LookupGroup(deviceGroup)
	if err != nil {
		log.Warn("device node left root:root: no group", "group", deviceGroup, "error", err)
		return
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return
	}
	if _, err := os.Stat(daemonDevice); err != nil {
		return
	}
	if err := unix.Chown(daemonDevice, 0, gid); err != nil {
		log.Error("chown device node", "path", daemonDevice, "error", err)
	}
	if err := unix.Chmod(daemonDevice, deviceMode); err != nil {
		log.Error("chmod device node", "path", daemonDevice, "error", err)
	}
}

// flagValue returns the value of --name in args (either form) and whether
// it is there.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// daemonDirs are the directories mypolld writes to: that of its socket and
// its --state-dir (default /run/mypoll; "" disables it).
func daemonDirs(args []string) []string {
	dirs := []string{filepath.Dir(socketArg(args))}
	state, ok := flagValue(args, "--state-dir")
	if !ok {
		state = "/run/mypoll"
	}
	if state != "" {
		dirs = append(dirs, state)
	}
	return dirs
}

// prepareDirs creates the daemon's missing directories for id, mode 0755,
// as the SysV script and systemd's RuntimeDirectory= do; an existing one is
// left alone (it may be /tmp).
func prepareDirs(args []string, id *identity) error {
	for _, d := range daemonDirs(args) {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chown(d, int(id.uid), int(id.gid)); err != nil {
			return err
		}
	}
	return nil
}
