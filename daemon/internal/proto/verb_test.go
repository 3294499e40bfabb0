package proto_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/proto"
)

// TestVerbs_libmypoll: libmypoll's verb table (libmypoll/src/line.c, the
// {"name", MYPOLL_V_...} array) lists exactly the verbs of the Go table,
// so a verb added on one side and not the other fails here.
func TestVerbs_libmypoll(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "libmypoll", "src", "line.c"))
	if err != nil {
		t.Fatal(err)
	}
	var c []string
	for _, m := range regexp.MustCompile(`\{\s*"([a-z_]+)"\s*,\s*MYPOLL_V_[A-Z_]+\s*\}`).FindAllStringSubmatch(string(src), -1) {
		c = append(c, m[1])
	}
	var goNames []string
	for _, v := range proto.Verbs() {
		goNames = append(goNames, v.String())
	}
	if len(c) == 0 {
		t.Fatal("no {\"name\", MYPOLL_V_...} entries found in libmypoll/src/line.c")
	}
	sc, sg := slices.Sorted(slices.Values(c)), slices.Sorted(slices.Values(goNames))
	if !slices.Equal(sc, sg) {
		t.Errorf("libmypoll verbs %q, Go verbs %q: they must agree", c, goNames)
	}
}

// TestVerbs_usage: every verb has a synopsis starting with its name, and
// extra arguments get an EINVAL naming it.
func TestVerbs_usage(t *testing.T) {
	for _, v := range proto.Verbs() {
		u := v.Usage()
		if u != v.String() && !strings.HasPrefix(u, v.String()+" ") {
			t.Errorf("%v.Usage() = %q", v, u)
		}
		if v == proto.VerbEcho {
			continue // takes the rest of the line
		}
		_, perr := proto.ParseRequest([]byte(v.String() + " 1 1 1 1"))
		if perr == nil || perr.Errno != proto.EINVAL {
			t.Errorf("%v with 4 arguments: %v, want EINVAL", v, perr)
		}
	}
}
