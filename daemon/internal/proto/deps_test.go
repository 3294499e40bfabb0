package proto_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps checks the package boundary of doc.go: proto does no I/O, so
// neither it nor any project package it uses may import net, os, syscall,
// golang.org/x/sys or unsafe. (The standard library's own internals are
// not counted: fmt imports os.)
func TestDeps(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps",
		"-f", `{{if not .Standard}}{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{end}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{"net", "os", "syscall", "unsafe", "golang.org/x/sys"}
	checked := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		checked++
		for _, imp := range f[1:] {
			for _, bad := range forbidden {
				if imp == bad || strings.HasPrefix(imp, bad+"/") {
					t.Errorf("%s imports %s", f[0], imp)
				}
			}
		}
	}
	if checked < 2 { // proto and devabi
		t.Fatalf("go list -deps listed %d project packages, want proto and devabi:\n%s", checked, out)
	}
}
