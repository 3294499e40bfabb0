// Package daemon_test enforces the package boundaries of STYLE.md §1 for
// every package under daemon/ and client/.
package daemon_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath, Dir                    string
	GoFiles                            []string
	Imports, TestImports, XTestImports []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-json", "./...", "../client/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; the test is not looking at the tree", len(pkgs))
	}
	return pkgs
}

// TestBoundaries: only internal/sys imports golang.org/x/sys/unix or unsafe
// (tests included); the syscall package is for errno values only outside sys.
func TestBoundaries(t *testing.T) {
	const sysPkg = "github.com/mypoll/mypoll/daemon/internal/sys"
	for _, p := range listPackages(t) {
		if p.ImportPath == sysPkg {
			continue
		}
		all := append(append(append([]string(nil), p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			if imp == "unsafe" || strings.HasPrefix(imp, "golang.org/x/sys") {
				t.Errorf("%s imports %s: only %s may", p.ImportPath, imp, sysPkg)
			}
		}
	}
}

// TestWireText: the daemon writes protocol lines only through proto's
// encoders, so no string literal in a non-test file of the daemon's
// packages (daemon/internal/... and daemon/cmd/mypolld) outside proto starts
// like a server line. Clients and test tools under daemon/cmd read and
// write the wire themselves and are not checked, nor is internal/bridge,
// the bridge command's client side (its replies to remote requests are
// mypolld's reply lines, passed on).
func TestWireText(t *testing.T) {
	const (
		module    = "github.com/mypoll/mypoll/"
		protoPkg  = module + "daemon/internal/proto"
		bridgePkg = module + "daemon/internal/bridge"
	)
	prefixes := []string{"OK ", "ERR ", "EVT ", "LOST ", "HELLO "}
	checked := 0
	for _, p := range listPackages(t) {
		if p.ImportPath == protoPkg || p.ImportPath == bridgePkg ||
			!strings.HasPrefix(p.ImportPath, module+"daemon/internal/") && p.ImportPath != module+"daemon/cmd/mypolld" {
			continue
		}
		fset := token.NewFileSet()
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Errorf("%s: %v", fset.Position(lit.Pos()), err)
					return true
				}
				for _, pre := range prefixes {
					if strings.HasPrefix(v, pre) {
						t.Errorf("%s: string literal %s writes wire text; use a proto encoder", fset.Position(lit.Pos()), lit.Value)
					}
				}
				return true
			})
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d files; the test is not looking at the daemon", checked)
	}
}

// TestDocs: every package has a doc.go that says what it must not know.
func TestDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 || strings.Contains(p.ImportPath, "/cmd/") {
			continue // commands document themselves in --help
		}
		b, err := os.ReadFile(filepath.Join(p.Dir, "doc.go"))
		if err != nil {
			t.Errorf("%s has no doc.go", p.ImportPath)
			continue
		}
		if !strings.Contains(string(b), "must not") {
			t.Errorf("%s/doc.go does not say what the package must not know", p.ImportPath)
		}
	}
}
