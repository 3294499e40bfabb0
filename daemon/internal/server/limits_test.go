package server_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/server"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

func TestServer_MaxClients(t *testing.T) {
	d := startDaemon(t, func(c *server.Config) { c.MaxClients = 3 })
	cs := []*conn{d.dial(t), d.dial(t), d.dial(t)}
	extra := d.dialRaw(t)
	if l := extra.Line(); l != "ERR - EMFILE too many clients (max 3)" {
		t.Fatalf("4th client got %q, want ERR - EMFILE too many clients (max 3)", l)
	}
	extra.ExpectEOF()
	// A slot frees when a client leaves.
	cs[0].Net().Close()
	waitFor(t, func() bool { return strings.Contains(cs[1].Do("stats"), " clients=2 ") })
	d.dial(t)
}

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// waitFor polls cond until it holds; for state another goroutine reaches.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %v", waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServer_NoFDLeak: 10,000 connect/disconnect cycles, some mid-request,
// leave the daemon with exactly the fds it started with.
func TestServer_NoFDLeak(t *testing.T) {
	d := startDaemon(t)
	probe := d.dial(t)
	probe.Do("subscribe none")
	before := openFDs(t)
	const cycles = 10000
	for i := range cycles {
		nc, err := net.Dial("unix", d.path)
		for errors.Is(err, syscall.EAGAIN) { // listen backlog full: retry like a client would
			time.Sleep(time.Millisecond)
			nc, err = net.Dial("unix", d.path)
		}
		if err != nil {
			t.Fatalf("cycle %d: dial: %v", i, err)
		}
		switch i % 3 {
		case 1:
			fmt.Fprintf(nc, "echo %d\n", i)
		case 2:
			fmt.Fprintf(nc, "trigger 0 1\nstats\npartial request without newl")
		}
		nc.Close()
	}
	waitFor(t, func() bool {
		r := probe.Do("stats")
		return strings.Contains(r, " clients=1 ") && openFDs(t) == before
	})
	if r := probe.Do("stats"); !strings.Contains(r, fmt.Sprintf(" accepted=%d ", cycles+1)) {
		t.Errorf("stats = %q, want accepted=%d", r, cycles+1)
	}
}

// TestServer_EvictAfter: with --evict-after, a client whose queue keeps
// overflowing is disconnected; without it, it never is (A.6).
func TestServer_EvictAfter(t *testing.T) {
	for _, evict := range []time.Duration{50 * time.Millisecond, 0} {
		d := startDaemon(t, func(c *server.Config) { c.EvictAfter = evict; c.TXQBytes = 8192 })
		stalled := d.dialSub(t, "all")
		stalled.Net().(*net.UnixConn).SetReadBuffer(4096)
		ctl := d.dial(t)
		ctl.Do("subscribe none")
		// Keep its queue overflowing: until it is evicted (bounded by
		// waitTimeout), or, without eviction, for 300 ms after its first
		// loss (six times the eviction delay of the other case). Counted
		// from the first loss, not from the start: on a loaded machine
		// the socket buffer can take a while to fill.
		var r string
		var firstLoss time.Time
		deadline := time.Now().Add(waitTimeout)
		for time.Now().Before(deadline) {
			ctl.Do("trigger 0 500")
			time.Sleep(5 * time.Millisecond)
			r = ctl.Do("stats")
			if strings.Contains(r, " clients=1 ") {
				break
			}
			if firstLoss.IsZero() && !strings.Contains(r, " lost_queue=0 ") {
				firstLoss = time.Now()
			}
			if evict == 0 && !firstLoss.IsZero() && time.Since(firstLoss) >= 300*time.Millisecond {
				break
			}
		}
		evicted := strings.Contains(r, " clients=1 ")
		if evicted != (evict > 0) {
			t.Errorf("evict-after %v: stats %q; want the stalled client evicted: %v", evict, r, evict > 0)
		}
		if evict > 0 {
			// It gets what was queued, then EOF.
			stalled.Net().SetReadDeadline(time.Now().Add(waitTimeout))
			if _, err := io.Copy(io.Discard, stalled.Net()); err != nil {
				t.Errorf("evicted client: %v, want EOF", err)
			}
		}
	}
}

// TestServer_MaxClientsPerUID checks A.3 with real peers of other uids: a
// uid holding MaxClientsPerUID connections gets "ERR - EMFILE too many
// clients for uid U (max N)" and EOF on the next one; other uids and uid 0
// are not affected, and the uid's count drops when it disconnects.
func TestServer_MaxClientsPerUID(t *testing.T) {
	const limit = 3
	bin, sock := otherUIDFixture(t)
	d := startDaemon(t, func(c *server.Config) {
		c.Socket = sock
		c.SocketMode = 0o666
		c.StateDir = ""
		c.MaxClientsPerUID = limit
	})
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	refused := fmt.Sprintf("ERR - EMFILE too many clients for uid 65534 (max %d)+EOF", limit)
	expect := func(c *child, n int, wantRefused string) {
		t.Helper()
		for i := range n {
			l := c.line()
			if i < limit && !strings.HasPrefix(l, "HELLO ") || i >= limit && l != wantRefused {
				want := "HELLO ..."
				if i >= limit {
					want = wantRefused
				}
				t.Errorf("connection %d of uid %d: %q, want %q", i+1, c.cmd.SysProcAttr.Credential.Uid, l, want)
			}
		}
	}
	first := startChild(t, bin, sock, "hold", "5", nobody)
	expect(first, 5, refused)
	// Another uid has slots of its own; uid 0 has no limit.
	other := startChild(t, bin, sock, "hold", strconv.Itoa(limit), &syscall.Credential{Uid: 65533, Gid: 65533})
	expect(other, limit, "")
	var root *conn
	for range 2 * limit {
		root = d.dial(t)
	}
	// One more from uid 65534 while it still holds its slots.
	if l := startChild(t, bin, sock, "hold", "1", nobody).line(); l != refused {
		t.Errorf("uid 65534 over its limit: %q, want %q", l, refused)
	}
	// The slots free when its connections close.
	first.stop()
	want := fmt.Sprintf(" clients=%d ", limit+2*limit)
	waitFor(t, func() bool { return strings.Contains(root.Do("stats"), want) })
	expect(startChild(t, bin, sock, "hold", strconv.Itoa(limit), nobody), limit, "")
}

// TestServer_SendBufferBounded: a subscriber that never reads holds about
// Config.SendBuffer bytes in its socket at most, beside its TX queue, however
// many events it misses: what a client costs is bounded by TXQBytes plus
// SendBuffer (issue 19, item 11; the kernel's default let ~220 KiB pile
// up per client).
func TestServer_SendBufferBounded(t *testing.T) {
	for _, sndbuf := range []int{server.DefaultSendBuffer, 16384} {
		t.Run(strconv.Itoa(sndbuf), func(t *testing.T) {
			d := startDaemon(t, func(c *server.Config) {
				if sndbuf != server.DefaultSendBuffer {
					c.SendBuffer = sndbuf
				}
			})
			stalled := d.dialSub(t, "all")
			ctl := d.dial(t)
			ctl.Do("subscribe none")
			// Until the stalled client's TX queue overflows: its socket
			// is full by then.
			deadline := time.Now().Add(waitTimeout)
			for strings.Contains(ctl.Do("stats"), " lost_queue=0 ") {
				if time.Now().After(deadline) {
					t.Fatal("the stalled client lost nothing")
				}
				ctl.Do("trigger 0 4096")
			}
			// The kernel checks the budget before it allocates the next
			// buffer of a send, one of at most half the budget
			// (unix_stream_sendmsg), so it may overshoot by that much.
			unread := unreadBytes(t, stalled.Net())
			if limit := sndbuf + sndbuf/2; unread == 0 || unread > limit {
				t.Errorf("a client that never reads holds %d bytes in its socket, want 1 to %d", unread, limit)
			}
		})
	}
}

// unreadBytes is what nc's socket holds that was not read yet.
func unreadBytes(t *testing.T, nc net.Conn) int {
	t.Helper()
	rc, err := nc.(*net.UnixConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var uerr error
	if err := rc.Control(func(fd uintptr) { n, uerr = sys.Unread(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if uerr != nil {
		t.Fatal(uerr)
	}
	return n
}
