package server

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/internal/defaults"
)

// NoLimit, as Config.MaxClientsPerUID, sets no limit.
const NoLimit = -1

// Defaults of PROTOCOL.md A.
const (
	DefaultSocket     = defaults.Socket // one default path for daemon and clients
	DefaultSocketMode = 0o660
	DefaultMaxClients = 1024
	// DefaultMaxClientsPerUID is the D-Bus system bus's
	// max_connections_per_user: one local user cannot take every slot.
	DefaultMaxClientsPerUID = 256
	DefaultTXQBytes         = 65536
	// DefaultSendBuffer bounds what a client's socket holds unread, with
	// the kernel's bookkeeping (SO_SNDBUF as getsockopt reads it): as much
	// as its TX queue, under a third of the kernel's default
	// (net.core.wmem_default, 212992).
	DefaultSendBuffer = 65536
	DefaultHistory    = 4096
	DefaultStateDir   = "/run/mypoll"
	DefaultDrain      = 2 * time.Second

	// MinSendBuffer is the smallest SendBuffer: two pages, above the
	// kernel's own minimum (SOCK_MIN_SNDBUF, about 4.5 KiB).
	MinSendBuffer = 8192

	// MinTXQBytes is the smallest TX queue: room for the largest reply
	// (an echo of a 1024-byte request) plus the reserve kept for replies.
	MinTXQBytes = 2 * replyReserve
)

// Config is what the server needs to run. Its zero value is valid: every
// zero field means the default named in its comment, or "none". New checks
// it with Validate.
type Config struct {
	// Socket is the listening socket's path (default DefaultSocket). With
	// ListenFD it only names the socket in logs.
	Socket string
	// SocketMode is the socket file's permission bits (default 0660).
	SocketMode fs.FileMode
	// SocketGroup, when non-empty, is the group (a name or a numeric gid,
	// resolved with LookupGroup) the socket file is given; empty keeps the
	// daemon's group.
	SocketGroup string
	// ListenFD, when non-zero, is an already listening socket (systemd
	// socket activation passes fds from 3 on, so 0 means none); the server
	// owns it from then on.
	ListenFD int

	// Device is the event device; nil means none (ENODEV for control).
	Device device.Device
	// DevicePath is the device node open_device passes to clients (A.9);
	// empty when the device has none (emu): open_device gives ENODEV.
	DevicePath string

	MaxClients int // clients served at once (default DefaultMaxClients)
	// MaxClientsPerUID is how many of them one uid other than 0 may hold
	// (SO_PEERCRED at accept; default DefaultMaxClientsPerUID; NoLimit sets
	// none). Beyond it a connection gets "ERR - EMFILE too many clients
	// for uid U (max N)" and is closed (A.3).
	MaxClientsPerUID int
	TXQBytes         int // TX queue per client (default DefaultTXQBytes, at least MinTXQBytes)
	History          int // events kept for subscribe from= (0 keeps none)
	// SendBuffer bounds each client's socket send buffer in bytes as the
	// kernel counts them, bookkeeping included (SO_SNDBUF; default
	// DefaultSendBuffer, at least MinSendBuffer; net.core.wmem_max caps
	// it). A client that never reads costs the daemon at most TXQBytes
	// plus this much kernel memory.
	SendBuffer int
	// StateDir is where the resume position is kept; empty keeps none.
	StateDir string
	// ControlGroup, when non-empty, restricts control requests to uid 0, the
	// daemon's uid and members of this group (PROTOCOL.md A.7).
	ControlGroup string
	// EvictAfter disconnects a client whose TX queue has kept dropping
	// events for this long; 0 never evicts.
	EvictAfter time.Duration
	// DrainTimeout bounds the flush of TX queues at shutdown (default
	// DefaultDrain).
	DrainTimeout time.Duration
	// BusyPoll is how long the loop polls before it sleeps when nothing is
	// ready (loop.SetBusyPoll); 0, the default, never spins.
	BusyPoll time.Duration

	Log hclog.Logger // default: discard
	// Now returns the current time (tests inject a clock; default time.Now).
	Now func() time.Time
	// LookupGroup resolves a group name to its gid (default LookupGroup).
	LookupGroup func(name string) (uint32, error)
}

// ConfigError reports a Config field whose value the server cannot use.
// Field is the Go field name, so that a command can name its own flag.
type ConfigError struct {
	Field string
	Value string // the value as written, strings quoted
	Want  string // what would be accepted, e.g. "at least 1"; or empty with Err
	Err   error  // why the value was refused, when Want does not say
}

func (e *ConfigError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("invalid configuration: %s %s: %v", e.Field, e.Value, e.Err)
	}
	return fmt.Sprintf("invalid configuration: %s %s: want %s", e.Field, e.Value, e.Want)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Validate returns a *ConfigError for the first field that has no valid
// meaning. It does no I/O: group names are resolved by New. New calls it;
// a command calls it first to reject bad input before acquiring anything.
func (c *Config) Validate() error {
	bad := func(field string, value any, want string) error {
		return &ConfigError{Field: field, Value: fmt.Sprint(value), Want: want}
	}
	switch {
	case c.SocketMode&^fs.ModePerm != 0:
		return bad("SocketMode", fmt.Sprintf("%#o", uint32(c.SocketMode)), "permission bits such as 0660")
	case c.ListenFD < 0:
		return bad("ListenFD", c.ListenFD, "0 (none) or an open fd")
	case c.MaxClients < 0:
		return bad("MaxClients", c.MaxClients, "at least 1")
	case c.MaxClientsPerUID < NoLimit:
		return bad("MaxClientsPerUID", c.MaxClientsPerUID, "at least 1, or NoLimit")
	case c.TXQBytes != 0 && c.TXQBytes < MinTXQBytes:
		return bad("TXQBytes", c.TXQBytes, fmt.Sprintf("at least %d", MinTXQBytes))
	case c.SendBuffer != 0 && c.SendBuffer < MinSendBuffer:
		return bad("SendBuffer", c.SendBuffer, fmt.Sprintf("at least %d", MinSendBuffer))
	case c.History < 0:
		return bad("History", c.History, "0 or more")
	case c.EvictAfter < 0:
		return bad("EvictAfter", c.EvictAfter, "0 (never) or more")
	case c.DrainTimeout < 0:
		return bad("DrainTimeout", c.DrainTimeout, "0 (the default) or more")
	case c.BusyPoll < 0 || c.BusyPoll > time.Millisecond:
		return bad("BusyPoll", c.BusyPoll, "0 (never) to 1ms")
	}
	return nil
}

// withDefaults returns c, validated, with every zero field that has a
// default set to it.
func (c Config) withDefaults() (Config, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}
	if c.SocketMode == 0 {
		c.SocketMode = DefaultSocketMode
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.MaxClientsPerUID == 0 {
		c.MaxClientsPerUID = DefaultMaxClientsPerUID
	}
	if c.TXQBytes == 0 {
		c.TXQBytes = DefaultTXQBytes
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrain
	}
	if c.Log == nil {
		c.Log = hclog.NewNullLogger()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.LookupGroup == nil {
		c.LookupGroup = LookupGroup
	}
	return c, nil
}
