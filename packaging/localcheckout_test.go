package packaging_test

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeBlock returns the assignments (variable -> value) of the first
// fenced block of text that contains marker.
func readmeBlock(t *testing.T, text, marker string) map[string]string {
	t.Helper()
	parts := strings.Split(text, "```")
	assign := regexp.MustCompile(`^([A-Za-z0-9_:${}-]+)\s*(\+=|=)\s*"(.*)"\s*$`)
	for i := 1; i < len(parts); i += 2 {
		if !strings.Contains(parts[i], marker) {
			continue
		}
		vars := map[string]string{}
		for line := range strings.Lines(parts[i]) {
			if m := assign.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				vars[m[1]] = m[3]
			}
		}
		return vars
	}
	t.Fatalf("meta-mypoll/README.md: no code block with %q", marker)
	return nil
}

// TestYocto_ReadmeLocalCheckout: the two ways meta-mypoll/README.md gives to
// build a local checkout cover every recipe, as tried with bitbake (issue
// 22): an SRCREV override for each, and an externalsrc block that points
// each recipe at the directory its S names, gives a recipe that builds in
// ${S} (module.bbclass makes in ${B}, which defaults to ${S}) the same
// directory as EXTERNALSRC_BUILD (without it: "no makefile found"), and
// points the Go recipes at a Go path, whose symlink to the checkout
// mypoll-go.inc must add to the checksums (bitbake's stop at symlinks, so
// an edit would not rebuild them).
func TestYocto_ReadmeLocalCheckout(t *testing.T) {
	readme := read(t, "meta-mypoll/README.md")
	srcrev := readmeBlock(t, readme, "SRCREV:pn-")
	ext := readmeBlock(t, readme, `INHERIT += "externalsrc"`)
	if ext["INHERIT"] != "externalsrc" {
		t.Errorf("externalsrc block: INHERIT = %q", ext["INHERIT"])
	}
	pn := func(rec string) string {
		return strings.TrimSuffix(filepath.Base(rec), "_git.bb")
	}
	top := ext["EXTERNALSRC:pn-"+pn(libRecipe)]
	if top == "" {
		t.Fatalf("externalsrc block has no EXTERNALSRC:pn-%s", pn(libRecipe))
	}
	var gopath string
	for _, rec := range append([]string{libRecipe, modRecipe}, goRecipes...) {
		name := pn(rec)
		if srcrev["SRCREV:pn-"+name] == "" {
			t.Errorf("SRCREV override block has no SRCREV:pn-%s", name)
		}
		dir, ok := ext["EXTERNALSRC:pn-"+name]
		if !ok {
			t.Errorf("externalsrc block has no EXTERNALSRC:pn-%s", name)
			continue
		}
		v := bbVars(t, rec)
		text := v["BBFILE:"+rec]
		if strings.Contains(text, "require recipes-mypoll/include/mypoll-go.inc") {
			if gopath == "" {
				gopath = dir
			}
			if dir != gopath || dir == top {
				t.Errorf("EXTERNALSRC:pn-%s = %q, want the one Go path of the other Go recipes (%q), not the checkout", name, dir, gopath)
			}
			continue
		}
		_, sub, ok := strings.Cut(v["S"], "${BB_GIT_DEFAULT_DESTSUFFIX}")
		if !ok {
			t.Errorf("%s: S = %q is not under the fetched checkout", rec, v["S"])
			continue
		}
		if want := top + sub; dir != want {
			t.Errorf("EXTERNALSRC:pn-%s = %q, want %q (the recipe's S is %s)", name, dir, want, v["S"])
		}
		_, setsB := v["B"]
		build := ext["EXTERNALSRC_BUILD:pn-"+name]
		if strings.Contains(text, "inherit module\n") && !setsB && build != dir {
			t.Errorf("EXTERNALSRC_BUILD:pn-%s = %q, want %q: module.bbclass runs make in ${B}, which externalsrc moves out of the source tree", name, build, dir)
		}
	}
	inc := read(t, "meta-mypoll/recipes-mypoll/include/mypoll-go.inc")
	handler := regexp.MustCompile(`(?s)addhandler (\w+)\n(\w+)\[eventmask\] = "bb\.event\.RecipeTaskPreProcess"\npython (\w+)\(\) \{.*appendVarFlag\('do_compile', 'file-checksums', .*srctree_hash_files\(d, `)
	if m := handler.FindStringSubmatch(inc); m == nil || m[1] != m[2] || m[1] != m[3] {
		t.Errorf("mypoll-go.inc has no RecipeTaskPreProcess handler adding the checkout behind the Go path to do_compile[file-checksums]: with externalsrc an edit would not rebuild the Go recipes")
	}
}
