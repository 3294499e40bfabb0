package server

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/mypoll/mypoll/daemon/internal/device"
)

// Defaults of PROTOCOL.md A.
const (
	DefaultSocket     = "/run/mypoll/mypoll.sock"
	DefaultSocketMode = 0o660
	DefaultMaxClients = 1024
	DefaultTXQBytes   = 65536
	DefaultHistory    = 4096
	DefaultStateDir   = "/run/mypoll"
	DefaultDrain      = 2 * time.Second

	// MinTXQBytes is the smallest TX queue: room for the largest reply
	// (an echo of a 1024-byte request) plus the reserve kept for replies.
	MinTXQBytes = 2 * replyReserve
)

// Config is what the server needs to run. The zero value of an optional
// field means its default.
type Config struct {
	// Socket is the listening socket's path. Ignored when ListenFD >= 0.
	Socket string
	// SocketMode is the socket file's permission bits (default 0660).
	SocketMode fs.FileMode
	// SocketGID is the socket file's group; -1 keeps the daemon's group.
	SocketGID int
	// ListenFD, when >= 0, is an already listening socket (systemd socket
	// activation); the server owns it from then on.
	ListenFD int

	// Device is the event device; nil means none (ENODEV for control).
	Device device.Device
	// DevicePath is the device node open_device passes to clients (A.9);
	// empty when the device has none (emu): open_device gives ENODEV.
	DevicePath string

	MaxClients int // default DefaultMaxClients
	TXQBytes   int // default DefaultTXQBytes
	History    int // events kept for resume (default DefaultHistory; 0 keeps the default, negative disables)
	StateDir   string
	// ControlGroup, when non-empty, restricts control requests to uid 0, the
	// daemon's uid and members of this group (PROTOCOL.md A.7).
	ControlGroup string
	// EvictAfter disconnects a client whose TX queue has kept dropping
	// events for this long; 0 never evicts.
	EvictAfter time.Duration
	// DrainTimeout bounds the flush of TX queues at shutdown.
	DrainTimeout time.Duration

	Log hclog.Logger
	// Now returns the current time (tests inject a clock).
	Now func() time.Time
	// LookupGroup resolves a group name to its gid (default os/user).
	LookupGroup func(name string) (uint32, error)
}

// errConfig marks a bad configuration value.
var errConfig = errors.New("invalid configuration")

func (c *Config) setDefaults() error {
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}
	if c.SocketMode == 0 {
		c.SocketMode = DefaultSocketMode
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.MaxClients < 1 {
		return fmt.Errorf("%w: max clients %d must be at least 1", errConfig, c.MaxClients)
	}
	if c.TXQBytes == 0 {
		c.TXQBytes = DefaultTXQBytes
	}
	if c.TXQBytes < MinTXQBytes {
		return fmt.Errorf("%w: TX queue of %d bytes is below the minimum %d", errConfig, c.TXQBytes, MinTXQBytes)
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if c.History < 0 {
		c.History = 0
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
	return nil
}
