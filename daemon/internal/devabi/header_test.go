package devabi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/devabi"
)

// headerDir holds linux/mypoll.h, relative to this package's directory.
const headerDir = "../../../kmod/include/uapi"

// cStructs pairs each Go mirror with its C struct and the C names of its
// fields, in declaration order.
var cStructs = []struct {
	c      string
	v      any
	fields []string
}{
	{"mypoll_event", devabi.Event{}, []string{"seq", "timestamp_ns", "type", "flags", "source_id", "arg", "aux", "reserved"}},
	{"mypoll_info", devabi.Info{}, []string{"abi_version", "event_size", "ring_size", "max_timers", "min_period_ns", "max_period_ns", "max_burst", "max_write", "instance_id", "reserved"}},
	{"mypoll_stats", devabi.Stats{}, []string{"next_seq", "oldest_seq", "generated", "timer_events", "trigger_events", "overwritten", "timer_overruns", "readers", "active_timers", "reserved"}},
	{"mypoll_reader_info", devabi.ReaderInfo{}, []string{"cursor", "pending", "lost_total", "overflows", "reserved"}},
	{"mypoll_seek", devabi.Seek{}, []string{"whence", "reserved", "seq"}},
	{"mypoll_timer", devabi.Timer{}, []string{"id", "flags", "period_ns", "count", "cookie", "ticks", "active", "reserved"}},
	{"mypoll_trigger", devabi.Trigger{}, []string{"payload", "count", "flags", "first_seq"}},
}

// cConsts maps every macro and enum value of mypoll.h to its Go mirror.
var cConsts = []struct {
	c    string
	want uint64
}{
	{"MYPOLL_ABI_VERSION", devabi.ABIVersion},
	{"MYPOLL_MAX_TIMERS", devabi.MaxTimers},
	{"MYPOLL_MAX_WRITE", devabi.MaxWrite},
	{"MYPOLL_EV_TIMER", uint64(devabi.EvTimer)},
	{"MYPOLL_EV_TRIGGER", uint64(devabi.EvTrigger)},
	{"MYPOLL_EV_OVERFLOW", uint64(devabi.EvOverflow)},
	{"MYPOLL_EV_TIMER_STOPPED", uint64(devabi.EvTimerStopped)},
	{"MYPOLL_STOP_REASON_STOP", devabi.StopReasonStop},
	{"MYPOLL_STOP_REASON_COUNT", devabi.StopReasonCount},
	{"MYPOLL_STOP_REASON_CLOSED", devabi.StopReasonClosed},
	{"MYPOLL_SEEK_LIVE", devabi.SeekLive},
	{"MYPOLL_SEEK_OLDEST", devabi.SeekOldest},
	{"MYPOLL_SEEK_SEQ", devabi.SeekSeq},
	{"MYPOLL_TIMER_F_OWNED", devabi.TimerOwned},
	{"MYPOLL_TIMER_F_REPLACE", devabi.TimerReplace},
	{"MYPOLL_TIMER_F_ALL", devabi.TimerFlagsAll},
	{"MYPOLL_IOC_MAGIC", devabi.IocMagic},
	{"MYPOLL_IOC_GET_INFO", devabi.IocGetInfo},
	{"MYPOLL_IOC_GET_STATS", devabi.IocGetStats},
	{"MYPOLL_IOC_GET_READER", devabi.IocGetReader},
	{"MYPOLL_IOC_SEEK", devabi.IocSeek},
	{"MYPOLL_IOC_TIMER_START", devabi.IocTimerStart},
	{"MYPOLL_IOC_TIMER_STOP", devabi.IocTimerStop},
	{"MYPOLL_IOC_TIMER_GET", devabi.IocTimerGet},
	{"MYPOLL_IOC_TRIGGER", devabi.IocTrigger},
	{"MYPOLL_IOC_RESET_STATS", devabi.IocResetStats},
}

// cProgram prints "size <struct> N", "field <struct>.<field> OFF SIZE" and
// "const <NAME> VALUE" for everything in cStructs and cConsts.
func cProgram() string {
	var b strings.Builder
	b.WriteString("#include <stddef.h>\n#include <stdio.h>\n#include <linux/mypoll.h>\n")
	b.WriteString("#define F(s, f) printf(\"field %s.%s %zu %zu\\n\", #s, #f, offsetof(struct s, f), sizeof(((struct s *)0)->f))\n")
	b.WriteString("int main(void)\n{\n")
	for _, s := range cStructs {
		fmt.Fprintf(&b, "\tprintf(\"size %s %%zu\\n\", sizeof(struct %s));\n", s.c, s.c)
		for _, f := range s.fields {
			fmt.Fprintf(&b, "\tF(%s, %s);\n", s.c, f)
		}
	}
	for _, c := range cConsts {
		fmt.Fprintf(&b, "\tprintf(\"const %s %%llu\\n\", (unsigned long long)(%s));\n", c.c, c.c)
	}
	b.WriteString("\treturn 0;\n}\n")
	return b.String()
}

// runHeaderProgram compiles cProgram against mypoll.h with the host C
// compiler (the host's <linux/types.h> and <linux/ioctl.h>) and returns
// its output as a map from "size X", "field X.Y" and "const Z" to values.
func runHeaderProgram(t *testing.T) map[string][]uint64 {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Fatalf("the ABI test needs a host C compiler: %v (install gcc and linux-libc-dev)", err)
	}
	inc, err := filepath.Abs(headerDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "abi.c"), filepath.Join(dir, "abi")
	if err := os.WriteFile(src, []byte(cProgram()), 0o644); err != nil {
		t.Fatal(err)
	}
	// -Wpadded: any implicit padding in the header is an error.
	out, err := exec.Command(cc, "-std=c11", "-Wall", "-Wextra", "-Wpadded", "-Werror",
		"-I", inc, "-o", bin, src).CombinedOutput()
	if err != nil {
		t.Fatalf("%s mypoll.h program: %v\n%s", cc, err, out)
	}
	out, err = exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("run ABI program: %v", err)
	}
	got := map[string][]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			t.Fatalf("ABI program printed %q", sc.Text())
		}
		var vals []uint64
		for _, s := range f[2:] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("ABI program printed %q: %v", sc.Text(), err)
			}
			vals = append(vals, v)
		}
		got[f[0]+" "+f[1]] = vals
	}
	return got
}

func TestHeader(t *testing.T) {
	got := runHeaderProgram(t)
	for _, s := range cStructs {
		typ := reflect.TypeOf(s.v)
		t.Run(s.c, func(t *testing.T) {
			if typ.NumField() != len(s.fields) {
				t.Fatalf("devabi.%s has %d fields, the C field list %d", typ.Name(), typ.NumField(), len(s.fields))
			}
			if v := got["size "+s.c]; len(v) != 1 || v[0] != uint64(typ.Size()) {
				t.Errorf("sizeof(struct %s) = %v, devabi.%s is %d bytes", s.c, v, typ.Name(), typ.Size())
			}
			for i, name := range s.fields {
				f := typ.Field(i)
				want := []uint64{uint64(f.Offset), uint64(f.Type.Size())}
				if v := got["field "+s.c+"."+name]; !reflect.DeepEqual(v, want) {
					t.Errorf("struct %s.%s: offset, size = %v; devabi.%s.%s = %v", s.c, name, v, typ.Name(), f.Name, want)
				}
			}
		})
	}
	for _, c := range cConsts {
		if v := got["const "+c.c]; len(v) != 1 || v[0] != c.want {
			t.Errorf("%s = %v in mypoll.h, devabi has %#x", c.c, v, c.want)
		}
	}
}
