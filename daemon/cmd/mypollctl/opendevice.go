package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
	"github.com/mypoll/mypoll/daemon/internal/device"
	"github.com/mypoll/mypoll/daemon/internal/sys"
)

func openDeviceFlags(fs *flag.FlagSet, a *args) {
	fs.BoolVar(&a.oldest, "oldest", false, "")
	fs.Uint64Var(&a.limit, "count", 0, "")
}

// runOpenDevice asks the daemon for the device descriptor (open_device)
// and prints the records read from it directly, with this process's own
// cursor, until --count records or SIGINT/SIGTERM.
func runOpenDevice(ctx context.Context, e *env, a *args) error {
	var dev device.File
	err := e.request(ctx, func(ctx context.Context) error {
		f, err := e.conn.OpenDevice(ctx)
		if err != nil {
			return err
		}
		fd, err := sys.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			return fmt.Errorf("open_device: %w", err)
		}
		dev = device.FileFromFD(fd)
		return nil
	})
	if err != nil {
		return err
	}
	defer dev.Close()
	if a.oldest {
		if err := dev.Seek(devabi.SeekOldest, 0); err != nil {
			return fmt.Errorf("seek to the oldest record: %w", err)
		}
	}
	info, err := dev.Info()
	if err != nil {
		return fmt.Errorf("device info: %w", err)
	}
	ri, err := dev.Reader()
	if err != nil {
		return fmt.Errorf("device reader info: %w", err)
	}
	e.print(fmt.Sprintf("DEVICE instance_id=%016x ring_size=%d cursor=%d pending=%d (read-only descriptor from mypolld)",
		info.InstanceID, info.RingSize, ri.Cursor, ri.Pending), struct {
		Kind       string `json:"kind"`
		InstanceID string `json:"instance_id"`
		RingSize   uint32 `json:"ring_size"`
		Cursor     uint64 `json:"cursor"`
		Pending    uint64 `json:"pending"`
	}{"device", fmt.Sprintf("%016x", info.InstanceID), info.RingSize, ri.Cursor, ri.Pending})
	if err := e.out.w.Flush(); err != nil {
		return err
	}
	buf := make([]byte, 64*devabi.EventSize)
	var printed uint64
	for a.limit == 0 || printed < a.limit {
		ready, err := sys.PollIn(dev.FD(), 200*time.Millisecond)
		if ctx.Err() != nil {
			return nil // SIGINT or SIGTERM: a normal end
		}
		if err != nil {
			return fmt.Errorf("poll device: %w", err)
		}
		if !ready {
			continue
		}
		n, err := dev.Read(buf)
		if errors.Is(err, sys.ErrWouldBlock) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read device: %w", err)
		}
		for off := 0; off+devabi.EventSize <= n && (a.limit == 0 || printed < a.limit); off += devabi.EventSize {
			ev, _ := devabi.DecodeEvent(buf[off:])
			printed++
			if ev.Type == devabi.EvOverflow {
				e.print(fmt.Sprintf("OVERFLOW %d..%d: %d records overwritten before this reader read them",
					ev.Seq, ev.Seq+ev.Aux-1, ev.Aux), lostRecord{Kind: "overflow", First: ev.Seq, Last: ev.Seq + ev.Aux - 1, Count: ev.Aux, Reason: "device"})
				continue
			}
			e.print(fmt.Sprintf("REC %d %s source=%d arg=%d aux=%d ts=%dns", ev.Seq, ev.Type, ev.SourceID, ev.Arg, ev.Aux, ev.TimestampNS),
				eventRecord{Kind: "record", Seq: ev.Seq, Type: ev.Type.String(), SourceID: ev.SourceID, Arg: ev.Arg, Aux: ev.Aux, TimestampNS: ev.TimestampNS})
		}
		if err := e.out.w.Flush(); err != nil {
			return err
		}
	}
	return nil
}
