//go:build brokers

package main

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mypoll/mypoll/internal/brokertest"
)

// What the damage tests forge on disk, as mypoll-bridge --help (FILES)
// describes it: the cursor file, its CRC-32C line.
const stateFile = "cursor.json"

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// The spool and cursor damaged on disk (PROTOCOL.md C.4): every file kind
// corrupted in every way while the bridge is down (SIGKILLed with events
// spooled, the broker down), and a spool on a full file system. After the
// restart the bridge must keep running and online, and the consumer at the
// broker must see every seq of 1..last as an event or inside a loss message
// (C.3's coverage invariant): nothing lost silently.
//
// Each case: the bridge publishes phase1 events (so a cursor exists and
// segments were trimmed), the broker stops, phase2 events are spooled
// (segments of 85 records with --spool-bytes 65536), the bridge is killed,
// the damage is done, the bridge and the broker are started again and
// phase3 live events follow.
func TestBridge_SpoolDamage(t *testing.T) {
	const phase1, phase2, phase3 = 200, 500, 100
	// segs returns the segment files, oldest first.
	segs := func(t *testing.T, dir string) []string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		slices.Sort(m)
		if len(m) < 4 {
			t.Fatalf("%d spool segments %v, want at least 4 to damage one in the middle", len(m), m)
		}
		return m
	}
	mid := func(t *testing.T, dir string) string { s := segs(t, dir); return s[len(s)/2] }
	last := func(t *testing.T, dir string) string { s := segs(t, dir); return s[len(s)-1] }
	rewrite := func(t *testing.T, path string, f func([]byte) []byte) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f(b), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// cursorJSON edits the cursor's JSON object (its first line), keeping
	// whatever follows it.
	cursorJSON := func(t *testing.T, dir string, f func(string) string) {
		t.Helper()
		rewrite(t, filepath.Join(dir, stateFile), func(b []byte) []byte {
			js, rest, _ := bytes.Cut(b, []byte("\n"))
			out := []byte(f(string(js)))
			if len(rest) > 0 || bytes.HasSuffix(b, []byte("\n")) {
				out = append(append(out, '\n'), rest...)
			}
			return out
		})
	}
	setKey := func(key, val string) func(string) string {
		re := regexp.MustCompile(`"` + key + `":[0-9]+`)
		return func(s string) string {
			if !re.MatchString(s) {
				t.Fatalf("cursor %s has no %q", s, key)
			}
			return re.ReplaceAllLiteralString(s, `"`+key+`":`+val)
		}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		tmpfs  string // mount a tmpfs of this size as the state dir
		// drained: the broker stays up, the spool is empty when the
		// bridge is killed, and phase2 happens while it is down.
		drained bool
	}{
		{"segment byte flipped mid-segment", func(t *testing.T, dir string) {
			rewrite(t, mid(t, dir), func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
		}, "", false},
		{"segment truncated", func(t *testing.T, dir string) {
			p := mid(t, dir)
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "", false},
		{"segment zero-filled", func(t *testing.T, dir string) {
			rewrite(t, mid(t, dir), func(b []byte) []byte { return make([]byte, len(b)) })
		}, "", false},
		{"segment deleted", func(t *testing.T, dir string) {
			if err := os.Remove(mid(t, dir)); err != nil {
				t.Fatal(err)
			}
		}, "", false},
		{"segment header garbled", func(t *testing.T, dir string) {
			rewrite(t, mid(t, dir), func(b []byte) []byte { copy(b, "garbage!"); return b })
		}, "", false},
		{"last segment truncated", func(t *testing.T, dir string) {
			p := last(t, dir)
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/3); err != nil {
				t.Fatal(err)
			}
		}, "", false},
		{"cursor empty", func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, stateFile), func([]byte) []byte { return nil })
		}, "", false},
		{"cursor garbage", func(t *testing.T, dir string) {
			rewrite(t, filepath.Join(dir, stateFile), func([]byte) []byte { return []byte("\x00garbage{\"acked\":") })
		}, "", false},
		{"cursor missing field", func(t *testing.T, dir string) {
			cursorJSON(t, dir, func(s string) string {
				return regexp.MustCompile(`"instance_id":"[0-9a-f]*",?`).ReplaceAllLiteralString(s, "")
			})
		}, "", true},
		{"cursor head implausible", func(t *testing.T, dir string) {
			cursorJSON(t, dir, func(s string) string {
				h, _ := strconv.Atoi(regexp.MustCompile(`"head":([0-9]+)`).FindStringSubmatch(s)[1])
				return setKey("head", strconv.Itoa(h+300))(s)
			})
		}, "", false},
		{"cursor acked 10^12", func(t *testing.T, dir string) {
			cursorJSON(t, dir, setKey("acked", "1000000000000"))
		}, "", true},
		// A cursor that passes its checksum yet names a seq mypolld has
		// not reached, with no segment left to contradict it: mypolld
		// answers ERANGE (A.8), and the bridge must not go quiet.
		{"cursor acked 10^12 checksum valid", func(t *testing.T, dir string) {
			for _, p := range segs0(dir) {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
			rewrite(t, filepath.Join(dir, stateFile), func(b []byte) []byte {
				js, _, _ := bytes.Cut(b, []byte("\n"))
				js = []byte(setKey("acked", "1000000000000")(string(js)))
				return fmt.Appendf(js, "\ncrc32c=%08x\n", crc32c(js))
			})
		}, "", true},
		{"full tmpfs", nil, "16k", false},
		{"full tmpfs at start", nil, "16k", false},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			start := time.Now()
			m := brokertest.StartMosquitto(t, "")
			c := brokertest.NewConsumer(t, m.URL())
			d := startDaemon(t)
			dev := "dev-dmg"
			b := &bridgeProc{t: t, state: filepath.Join(t.TempDir(), "state")}
			if tc.tmpfs != "" {
				if err := os.MkdirAll(b.state, 0o750); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+tc.tmpfs, "tmpfs", b.state).CombinedOutput(); err != nil {
					t.Fatalf("mount tmpfs (the test runs as root): %v %s", err, out)
				}
				t.Cleanup(func() {
					if out, err := exec.Command("umount", b.state).CombinedOutput(); err != nil {
						t.Errorf("umount %s: %v %s", b.state, err, out)
					}
				})
				if strings.HasSuffix(tc.name, "at start") {
					fillDisk(t, b.state)
				}
			}
			b.args = []string{"--socket", d.sock, "--device-id", dev, "--state-dir", b.state,
				"--keepalive", "2s", "--log-level", "debug", "--broker", m.URL(), "--spool-bytes", "65536"}
			b.start()
			c.WaitStatus(dev, `"online":true`)
			last1 := d.trigger(phase1)
			c.WaitCovered(dev, 1, last1)
			time.Sleep(500 * time.Millisecond) // the cursor is written
			if tc.drained {
				b.p.Kill(syscall.SIGKILL)
				d.triggerPaced(phase2, 50, 5*time.Millisecond) // mypolld's history keeps them
				tc.damage(t, b.state)
				b.start()
			} else {
				m.Stop()
				d.triggerPaced(phase2, 50, 5*time.Millisecond)
				time.Sleep(1500 * time.Millisecond) // durable within 1 s (C.4)
				if tc.damage != nil {
					b.p.Kill(syscall.SIGKILL)
					tc.damage(t, b.state)
					b.start()
				}
				m.Start()
			}
			lastSeq := d.trigger(phase3)
			exited := waitCoveredOrStalled(c, dev, lastSeq, b.p)
			inst := ""
			if ids := c.Instances(dev); len(ids) == 1 {
				inst = ids[0]
			} else {
				t.Errorf("instances %v, want one", ids)
			}
			missing, dups := silentAndDup(c, dev, inst, lastSeq)
			var lossText []string
			for _, l := range c.Losses(dev, inst) {
				lossText = append(lossText, fmt.Sprintf("%d-%d/%d %s", l.First, l.Last, l.Count, l.Reason))
			}
			t.Logf("RESULT %s: exited=%v silently missing=%d duplicates=%d losses=%v time=%v",
				tc.name, exited, len(missing), dups, lossText, time.Since(start).Round(100*time.Millisecond))
			if exited != "" {
				t.Errorf("the bridge exited (%s), want it running", exited)
			}
			if len(missing) > 0 {
				t.Errorf("%d seqs of 1..%d neither delivered nor in a loss (first %v)", len(missing), lastSeq, missing[:min(len(missing), 5)])
			}
			if s := c.Status(dev); !strings.Contains(s, `"online":true`) || strings.Contains(s, "1000000000001") {
				t.Errorf("status %s, want online, without the damaged cursor's seq", s)
			}
			c.CheckWellFormed()
		})
	}
}

// segs0 returns the segment files in dir.
func segs0(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return m
}

// fillDisk writes a file into dir until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 512)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v, want ENOSPC", dir, err)
			}
			return
		}
	}
}

// waitCoveredOrStalled waits until 1..last of the device's one instance is
// covered, the bridge exits, or nothing arrives for 10 s; it returns the
// bridge's exit ("" while it runs).
func waitCoveredOrStalled(c *brokertest.Consumer, dev string, last uint64, p *brokertest.Proc) string {
	deadline := time.Now().Add(brokertest.MaxWait)
	var seen int
	quiet := time.Now()
	for time.Now().Before(deadline) && time.Since(quiet) < 10*time.Second {
		ids := c.Instances(dev)
		if len(ids) == 1 {
			if ok, _, _ := c.Covered(dev, ids[0], 1, last); ok {
				break
			}
			if _, ok := c.Event(dev, ids[0], last); ok {
				// The last seq arrived: what is not covered now stays so.
				time.Sleep(time.Second)
				break
			}
		}
		n := progress(c, dev, last)
		if n != seen {
			seen, quiet = n, time.Now()
		}
		select {
		case <-p.Done():
			return fmt.Sprint(p.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	select {
	case <-p.Done():
		return fmt.Sprint(p.Err())
	default:
		return ""
	}
}

// progress counts the device's events received in 1..last and its loss
// messages.
func progress(c *brokertest.Consumer, dev string, last uint64) int {
	n := 0
	for _, id := range c.Instances(dev) {
		for seq := uint64(1); seq <= last; seq++ {
			if _, ok := c.Event(dev, id, seq); ok {
				n++
			}
		}
		n += len(c.Losses(dev, id))
	}
	return n
}

// silentAndDup returns the seqs of 1..last neither delivered nor inside a
// loss, and how many event deliveries were redeliveries.
func silentAndDup(c *brokertest.Consumer, dev, inst string, last uint64) (missing []uint64, dups int) {
	losses := c.Losses(dev, inst)
	for seq := uint64(1); seq <= last; seq++ {
		if e, ok := c.Event(dev, inst, seq); ok {
			dups += e.Received - 1
			continue
		}
		if !slices.ContainsFunc(losses, func(l brokertest.Loss) bool { return seq >= l.First && seq <= l.Last }) {
			missing = append(missing, seq)
		}
	}
	return missing, dups
}
