package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks doc.go's boundary: the client imports neither
// golang.org/x/sys nor unsafe, nor anything of the daemon.
func TestDeps(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps",
		"-f", `{{if not .Standard}}{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{end}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		t.Fatalf("go list -deps listed nothing")
	}
	for _, imp := range lines {
		if imp == "unsafe" || strings.HasPrefix(imp, "golang.org/x/sys") || strings.HasPrefix(imp, "github.com/mypoll/mypoll/daemon") {
			t.Errorf("client reaches %s", imp)
		}
	}
}
