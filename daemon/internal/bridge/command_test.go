package bridge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	allowed, err := ParseAllowed("trigger,echo")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 1024)
	tests := []struct {
		msg     string
		drop    bool
		reply   string // the bridge's own ERR; "" means forwarded
		request string
	}{
		{`{"id":"1","request":"trigger 42"}`, false, "", "trigger 42"},
		{`{"id":"a b","request":"echo\thi"}`, false, "", "echo\thi"},
		{`{"id":"2","request":"stats"}`, false, "ERR stats EPERM not allowed by the bridge", ""},
		{`{"id":"3","request":"subscribe all"}`, false, "ERR subscribe EPERM not allowed by the bridge", ""},
		{`{"id":"4","request":""}`, false, "ERR - EINVAL request must be a string of 1-1023 printable ASCII bytes", ""},
		{`{"id":"5","request":"` + long + `"}`, false, "ERR - EINVAL request must be a string of 1-1023 printable ASCII bytes", ""},
		{`{"id":"6","request":"trigger\n1"}`, false, "ERR - EINVAL request must be a string of 1-1023 printable ASCII bytes", ""},
		{`{"id":"7","request":42}`, false, "ERR - EINVAL request must be a string of 1-1023 printable ASCII bytes", ""},
		{`{"id":"8"}`, false, "ERR - EINVAL request must be a string of 1-1023 printable ASCII bytes", ""},
		{`{"id":"9","request":"   "}`, false, "ERR - EINVAL empty request", ""},
		{`{"id":"10","request":"` + strings.Repeat("v", 40) + `"}`, false, "ERR " + strings.Repeat("v", 32) + " EPERM not allowed by the bridge", ""},
		{`{"id":"","request":"trigger"}`, true, "", ""},
		{`{"id":"` + strings.Repeat("i", 65) + `","request":"trigger"}`, true, "", ""},
		{`{"id":"\u00e9","request":"trigger"}`, true, "", ""},
		{`{"id":7,"request":"trigger"}`, true, "", ""},
		{`{"request":"trigger"}`, true, "", ""},
		{`["id","1"]`, true, "", ""},
		{`null`, true, "", ""},
		{`{"id":"1","request":"trigger"} {}`, true, "", ""},
		{`not json`, true, "", ""},
		{``, true, "", ""},
	}
	for _, tt := range tests {
		c, err := parseCommand([]byte(tt.msg), allowed)
		if tt.drop {
			if !errors.Is(err, errDropCommand) {
				t.Errorf("parseCommand(%q) = %+v, %v; want errDropCommand", tt.msg, c, err)
			}
			continue
		}
		if err != nil || c.Reply != tt.reply || (tt.reply == "" && c.Request != tt.request) {
			t.Errorf("parseCommand(%q) = %+v, %v; want reply %q request %q", tt.msg, c, err, tt.reply, tt.request)
		}
	}
}

func TestParseAllowed(t *testing.T) {
	for _, bad := range []string{"trigger,", "Trigger", "quit", "subscribe", "open_device", "a b"} {
		if _, err := ParseAllowed(bad); err == nil {
			t.Errorf("ParseAllowed(%q): no error", bad)
		}
	}
	if m, err := ParseAllowed(""); err != nil || m != nil {
		t.Errorf("ParseAllowed(\"\") = %v, %v; want nil (no cmd subscription)", m, err)
	}
}

func TestAppendReply(t *testing.T) {
	got := string(appendReply(nil, `a"\`, "OK echo \tx"))
	want := `{"id":"a\"\\","reply":"OK echo \tx"}`
	if got != want {
		t.Errorf("appendReply = %s, want %s", got, want)
	}
}

// FuzzParseCommand: any cmd message either is dropped, or yields a command
// whose id and request are within C.5's limits, and whose reply encodes as
// JSON that decodes back to the same id.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`{"id":"1","request":"trigger 42"}`, `{"id":"x","request":"stats"}`, `{"id":"1"}`, `[]`, `{"id":"\t"}`} {
		f.Add([]byte(s))
	}
	allowed := map[string]bool{"trigger": true}
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := parseCommand(msg, allowed)
		if err != nil {
			if !errors.Is(err, errDropCommand) {
				t.Fatalf("parseCommand(%q): error %v does not wrap errDropCommand", msg, err)
			}
			return
		}
		if len(c.ID) < 1 || len(c.ID) > 64 || !printable(c.ID, false) {
			t.Fatalf("parseCommand(%q): id %q outside 1-64 printable bytes", msg, c.ID)
		}
		if c.Reply == "" && (!allowed[c.Verb] || len(c.Request) > 1023 || !printable(c.Request, true)) {
			t.Fatalf("parseCommand(%q) would forward %q", msg, c.Request)
		}
		var back struct{ ID, Reply string }
		out := appendReply(nil, c.ID, c.Reply+c.Request)
		if err := json.Unmarshal(out, &back); err != nil || back.ID != c.ID || back.Reply != c.Reply+c.Request {
			t.Fatalf("appendReply(%q, ...) = %s: decodes to %+v, %v", c.ID, out, back, err)
		}
	})
}
