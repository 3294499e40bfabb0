package subset

import (
	"math"
	"testing"
)

func TestAppend(t *testing.T) {
	for _, c := range []struct {
		classes, timers uint8
		payloads        []uint64
		want            string
	}{
		{0, 0, nil, "none"},
		{ClassAll, 0xff, []uint64{1}, "all"},
		{ClassTimer, 0, nil, "timer"},
		{ClassTrigger, 0, nil, "trigger"},
		{ClassTimer, 1 << 3, []uint64{7}, "timer,trigger:7"},
		{ClassTrigger, 1<<0 | 1<<7, []uint64{7}, "trigger,timer:0,timer:7"},
		{0, 1 << 3, []uint64{0, 16, math.MaxUint64}, "timer:3,trigger:0,trigger:16,trigger:18446744073709551615"},
		{0, 0, []uint64{42}, "trigger:42"},
	} {
		if got := string(Append([]byte("x "), c.classes, c.timers, c.payloads)); got != "x "+c.want {
			t.Errorf("Append(%b, %b, %v) = %q, want %q", c.classes, c.timers, c.payloads, got, "x "+c.want)
		}
	}
}

func TestAppend_allocs(t *testing.T) {
	buf := make([]byte, 0, 512)
	pay := []uint64{1, 2, 3}
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], 0, 0x0f, pay) }); n != 0 {
		t.Errorf("%v allocations per Append, want 0", n)
	}
}
