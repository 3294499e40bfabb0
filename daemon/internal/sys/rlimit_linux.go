package sys

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// NoFileLimit returns the soft and hard RLIMIT_NOFILE of this process
// (getrlimit(2)). The Go runtime raises the soft limit to the hard one at
// start-up (os/rlimit.go), so cur is usually max.
func NoFileLimit() (cur, max uint64, err error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, wrap("getrlimit", err)
	}
	return rl.Cur, rl.Max, nil
}

// SetNoFileLimit sets the soft RLIMIT_NOFILE to cur and keeps the hard
// limit. New fds then fail with EMFILE once every number below cur is in
// use (tests of fd exhaustion).
func SetNoFileLimit(cur uint64) error {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return wrap("getrlimit", err)
	}
	rl.Cur = cur
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return wrap("setrlimit", err)
	}
	return nil
}

// ProcessRSS returns the resident set size of this process in bytes, from
// the second field of /proc/self/statm (proc(5)), counted in pages.
func ProcessRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("parse /proc/self/statm: %d fields", len(f))
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/self/statm: %w", err)
	}
	return pages * uint64(os.Getpagesize()), nil
}
