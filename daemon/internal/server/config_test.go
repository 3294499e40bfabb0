package server_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/server"
)

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   server.Config
		field string // "" when valid
	}{
		{"zero", server.Config{}, ""},
		{"all set", server.Config{SocketMode: 0o600, ListenFD: 3, MaxClients: 1, MaxClientsPerUID: 1, TXQBytes: server.MinTXQBytes, SendBuffer: server.MinSendBuffer, History: 1, EvictAfter: time.Second, DrainTimeout: time.Second, BusyPoll: time.Millisecond}, ""},
		{"mode beyond permissions", server.Config{SocketMode: 0o1777}, "SocketMode"},
		{"negative fd", server.Config{ListenFD: -1}, "ListenFD"},
		{"negative max clients", server.Config{MaxClients: -1}, "MaxClients"},
		{"no per-uid limit", server.Config{MaxClientsPerUID: server.NoLimit}, ""},
		{"bad per-uid limit", server.Config{MaxClientsPerUID: -2}, "MaxClientsPerUID"},
		{"small TX queue", server.Config{TXQBytes: server.MinTXQBytes - 1}, "TXQBytes"},
		{"small send buffer", server.Config{SendBuffer: server.MinSendBuffer - 1}, "SendBuffer"},
		{"negative history", server.Config{History: -1}, "History"},
		{"negative evict", server.Config{EvictAfter: -time.Second}, "EvictAfter"},
		{"negative drain", server.Config{DrainTimeout: -time.Second}, "DrainTimeout"},
		{"negative busy poll", server.Config{BusyPoll: -time.Microsecond}, "BusyPoll"},
		{"busy poll over 1ms", server.Config{BusyPoll: time.Millisecond + 1}, "BusyPoll"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			ce, ok := errors.AsType[*server.ConfigError](err)
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.field != "" && (!ok || ce.Field != tc.field):
				t.Errorf("Validate() = %v, want a ConfigError for %s", err, tc.field)
			}
		})
	}
}

// TestNew_ZeroConfig: a Config with only a socket path listens there with
// mode 0660 and the daemon's group, and serves (fd 0 is not adopted).
func TestNew_ZeroConfig(t *testing.T) {
	d := startDaemon(t, func(c *server.Config) { *c = server.Config{Socket: c.Socket} })
	fi, err := os.Stat(d.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != server.DefaultSocketMode {
		t.Errorf("socket file mode = %v, want a socket with %#o", fi.Mode(), server.DefaultSocketMode)
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != uint32(os.Getegid()) {
		t.Errorf("socket file gid = %d, want the daemon's %d", gid, os.Getegid())
	}
	if got := d.srv.SocketPath(); got != d.path {
		t.Errorf("SocketPath() = %q, want %q", got, d.path)
	}
	d.dial(t)
}

// TestNew_SocketGroup: SocketGroup is resolved with LookupGroup and given
// to the socket file; an unknown group is a ConfigError and nothing is
// left behind.
func TestNew_SocketGroup(t *testing.T) {
	gid := os.Getegid() // a group the test may always chown to
	lookup := func(name string) (uint32, error) {
		if name != "mine" {
			return 0, errors.New("unknown group")
		}
		return uint32(gid), nil
	}
	d := startDaemon(t, func(c *server.Config) { c.SocketGroup, c.LookupGroup = "mine", lookup })
	fi, err := os.Stat(d.path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Sys().(*syscall.Stat_t).Gid; got != uint32(gid) {
		t.Errorf("socket file gid = %d, want %d", got, gid)
	}

	sock := filepath.Join(t.TempDir(), "s")
	_, err = server.New(server.Config{Socket: sock, SocketGroup: "other", LookupGroup: lookup})
	if ce, ok := errors.AsType[*server.ConfigError](err); !ok || ce.Field != "SocketGroup" || ce.Value != strconv.Quote("other") {
		t.Errorf("New(unknown socket group) = %v, want a ConfigError for SocketGroup", err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file after a failed New: %v", err)
	}
}
