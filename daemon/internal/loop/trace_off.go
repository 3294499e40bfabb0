//go:build !looptrace

package loop

// The default build records nothing; see trace_on.go (build tag looptrace)
// for the per-turn timestamps used to profile the loop's latency.

func traceNow() int64 { return 0 }

func (l *Loop) traceTurn(start, woke int64, n int) {}

func traceDump() {}
