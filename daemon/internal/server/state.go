package server

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// stateInterval is how soon a change of the last broadcast seq is persisted. A crash
// loses at most this much progress, which a restart replays again from the
// device (never skips): the state only ever lags.
const stateInterval = 200 * time.Millisecond

// maxStateRetry bounds the backoff of a save that keeps failing (an
// unwritable --state-dir): the retry delay doubles from stateInterval up
// to this, so the daemon neither spins on the disk nor floods its log.
const maxStateRetry = time.Minute

// stateName is the file in --state-dir.
const stateName = "mypolld.state"

// stateFile persists (instance_id, last broadcast seq) so a restarted
// daemon resumes the device where it stopped (A.8).
type stateFile struct {
	dir        string
	instanceID uint64
	lastSeq    uint64
	dirty      bool
	armed      bool          // a persistTick is scheduled
	retry      time.Duration // delay of the scheduled retry while saves fail; 0 once one succeeds
}

type savedState struct {
	instanceID, lastSeq uint64
}

func (f *stateFile) path() string { return filepath.Join(f.dir, stateName) }

// load reads the saved state; ok is false when there is none.
func (f *stateFile) load() (st savedState, ok bool, err error) {
	if f.dir == "" {
		return st, false, nil
	}
	b, err := os.ReadFile(f.path())
	if os.IsNotExist(err) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read state: %w", err)
	}
	if _, err := fmt.Sscanf(string(b), "instance_id=%x last_seq=%d\n", &st.instanceID, &st.lastSeq); err != nil {
		return st, false, fmt.Errorf("parse state %s: %w", f.path(), err)
	}
	return st, true, nil
}

// save writes the state atomically (temp file + rename).
func (f *stateFile) save() error {
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	tmp := f.path() + ".tmp"
	data := fmt.Appendf(nil, "instance_id=%016x last_seq=%d\n", f.instanceID, f.lastSeq)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, f.path()); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	f.dirty = false
	return nil
}

// persist saves the state if it changed; it reports false when the save
// failed (logged).
func (s *Server) persist() bool {
	if s.state.dir == "" || !s.state.dirty || s.dev == nil {
		return true
	}
	if err := s.state.save(); err != nil {
		s.log.Error("persist resume state", "error", err)
		return false
	}
	return true
}

// stateChanged records that the resume position moved and schedules a
// save within stateInterval. No tick is scheduled while nothing changes,
// so an idle daemon does not wake for its state.
func (s *Server) stateChanged() {
	s.state.dirty = true
	if s.state.dir != "" && !s.state.armed {
		s.state.armed = true
		s.lp.AfterFunc(stateInterval, s.persistTick)
	}
}

// persistTick saves the state. A failed save is tried again after a delay
// that doubles from stateInterval to maxStateRetry while saves keep
// failing; the first save that succeeds after failures is logged.
func (s *Server) persistTick() {
	s.state.armed = false
	if s.persist() {
		if s.state.retry != 0 {
			s.log.Info("resume state saved again", "state_dir", s.state.dir)
			s.state.retry = 0
		}
		return
	}
	s.state.retry = min(max(2*s.state.retry, stateInterval), maxStateRetry)
	s.state.armed = true
	s.lp.AfterFunc(s.state.retry, s.persistTick)
}
