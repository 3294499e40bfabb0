package server_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: the daemon's server does not depend on the public client
// package (the default socket path both use lives in internal/defaults).
func TestDeps(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for dep := range strings.Lines(string(out)) {
		if strings.TrimSpace(dep) == "github.com/mypoll/mypoll/client" {
			t.Errorf("server depends on github.com/mypoll/mypoll/client")
		}
	}
}
