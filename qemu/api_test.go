package qemu_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAPI: the library's exported API names only its own and public types
// (no qemu/internal/... type in a signature or exported field; ErrRemote is
// a value, re-exported on purpose), and its non-test files do not import
// testing (that is package qemutest's job).
func TestAPI(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		internal := map[string]bool{}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "testing" {
				t.Errorf("%s imports testing", name)
			}
			if strings.Contains(path, "/internal/") {
				local := filepath.Base(path)
				if imp.Name != nil {
					local = imp.Name.Name
				}
				internal[local] = true
			}
		}
		// uses reports the internal package an expression names, if any.
		uses := func(n ast.Node) string {
			found := ""
			ast.Inspect(n, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && internal[id.Name] && found == "" {
						found = id.Name + "." + sel.Sel.Name
					}
				}
				return found == ""
			})
			return found
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) {
					if u := uses(d.Type); u != "" {
						t.Errorf("%s: %s has %s in its signature", fset.Position(d.Pos()), d.Name.Name, u)
					}
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					ts, ok := s.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					if ts.Assign.IsValid() {
						if u := uses(ts.Type); u != "" {
							t.Errorf("%s: type %s is an alias of %s", fset.Position(ts.Pos()), ts.Name.Name, u)
						}
						continue
					}
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					for _, fl := range st.Fields.List {
						for _, n := range fl.Names {
							if n.IsExported() {
								if u := uses(fl.Type); u != "" {
									t.Errorf("%s: field %s.%s is a %s", fset.Position(fl.Pos()), ts.Name.Name, n.Name, u)
								}
							}
						}
					}
				}
			}
		}
	}
	if checked < 4 {
		t.Fatalf("checked %d files; the test is not looking at the package", checked)
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	typ := fl.List[0].Type
	if st, ok := typ.(*ast.StarExpr); ok {
		typ = st.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
