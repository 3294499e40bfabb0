package packaging_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fragment is the config fragment that adds mypoll to any board's
// Buildroot configuration (merged with support/kconfig/merge_config.sh).
const fragment = "br2-external/configs/mypoll.fragment"

// fragmentWant: what the fragment must set, and the external tree's
// packages it leaves out on purpose (for test images, or optional).
var (
	fragmentWant = []string{"BR2_PACKAGE_MYPOLLD", "BR2_PACKAGE_MYPOLL_KMOD", "BR2_PACKAGE_LIBMYPOLL"}
	fragmentOut  = []string{"BR2_PACKAGE_MYPOLL_TESTAGENT", "BR2_PACKAGE_MYPOLL_BRIDGE"}
	// Buildroot's own symbols the fragment may set: host Go as the
	// prebuilt binary (package/go/Config.in.host).
	fragmentBuildroot = []string{"BR2_PACKAGE_HOST_GO_BIN"}
)

// fragmentProblems returns what is wrong with the fragment text, given the
// symbols the external tree defines.
func fragmentProblems(text string, ext map[string]bool) []string {
	var bad []string
	set := map[string]string{}
	assign := regexp.MustCompile(`^(BR2_[A-Z0-9_]+)=(.*)$`)
	unset := regexp.MustCompile(`^# (BR2_[A-Z0-9_]+) is not set$`)
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case unset.MatchString(line):
			set[unset.FindStringSubmatch(line)[1]] = "n"
		case line == "" || strings.HasPrefix(line, "#"):
		case assign.MatchString(line):
			m := assign.FindStringSubmatch(line)
			set[m[1]] = m[2]
		default:
			bad = append(bad, fmt.Sprintf("not a Kconfig assignment: %q", line))
		}
	}
	for name, v := range set {
		if !ext[name] && !slices.Contains(fragmentBuildroot, name) {
			bad = append(bad, fmt.Sprintf("sets %s, which br2-external's Config.in files do not define", name))
		}
		if v != "y" {
			bad = append(bad, fmt.Sprintf("%s=%s, want y", name, v))
		}
	}
	for _, name := range fragmentWant {
		if !ext[name] {
			bad = append(bad, "br2-external defines no "+name)
		}
		if set[name] != "y" {
			bad = append(bad, "does not set "+name+"=y")
		}
	}
	for _, name := range fragmentOut {
		if _, ok := set[name]; ok {
			bad = append(bad, "sets "+name+", a package for test images or optional")
		}
	}
	if !strings.Contains(text, "merge_config.sh") {
		bad = append(bad, "does not say how to merge it (merge_config.sh)")
	}
	slices.Sort(bad)
	return bad
}

// externalSymbols: the config symbols the external tree's Config.in files
// define.
func externalSymbols(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "br2-external/package/*/Config.in"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Config.in under br2-external/package: %v", err)
	}
	syms := map[string]bool{}
	re := regexp.MustCompile(`(?m)^config (BR2_[A-Z0-9_]+)$`)
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		for _, m := range re.FindAllStringSubmatch(read(t, rel), -1) {
			syms[m[1]] = true
		}
	}
	return syms
}

// TestBuildroot_Fragment: every symbol the fragment sets exists (in the
// external tree, or is one of the few Buildroot symbols it may set), the
// packages a board needs are set to y and the test-only ones are not.
// Whether Buildroot keeps every value for real boards is checked by hand
// against a Buildroot tree (br2-external/README.md, "Adding mypoll to any
// board"): CI has no Buildroot.
func TestBuildroot_Fragment(t *testing.T) {
	for _, p := range fragmentProblems(read(t, fragment), externalSymbols(t)) {
		t.Errorf("%s: %s", fragment, p)
	}
	if !strings.Contains(read(t, "br2-external/README.md"), "configs/mypoll.fragment") {
		t.Errorf("br2-external/README.md does not document %s", fragment)
	}
}

// The check above rejects broken fragments, each for its reason.
func TestBuildroot_FragmentBrokenCopiesFail(t *testing.T) {
	good := read(t, fragment)
	ext := externalSymbols(t)
	for _, m := range []struct{ name, old, new, want string }{
		{"misspelt symbol", "BR2_PACKAGE_MYPOLLD=y", "BR2_PACKAGE_MYPOLL_DAEMON=y", "BR2_PACKAGE_MYPOLL_DAEMON, which br2-external"},
		{"module left out", "BR2_PACKAGE_MYPOLL_KMOD=y\n", "", "does not set BR2_PACKAGE_MYPOLL_KMOD=y"},
		{"test agent in", "BR2_PACKAGE_MYPOLLD=y\n", "BR2_PACKAGE_MYPOLLD=y\nBR2_PACKAGE_MYPOLL_TESTAGENT=y\n", "sets BR2_PACKAGE_MYPOLL_TESTAGENT"},
		{"module as m", "BR2_PACKAGE_MYPOLL_KMOD=y", "BR2_PACKAGE_MYPOLL_KMOD=m", "BR2_PACKAGE_MYPOLL_KMOD=m, want y"},
		{"libmypoll unset", "BR2_PACKAGE_LIBMYPOLL=y", "# BR2_PACKAGE_LIBMYPOLL is not set", "BR2_PACKAGE_LIBMYPOLL=n, want y"},
		{"garbage line", "BR2_PACKAGE_MYPOLLD=y", "BR2_PACKAGE_MYPOLLD y", "not a Kconfig assignment"},
	} {
		if !strings.Contains(good, m.old) {
			t.Fatalf("%s has no %q", fragment, m.old)
		}
		bad := fragmentProblems(strings.Replace(good, m.old, m.new, 1), ext)
		if !slices.ContainsFunc(bad, func(p string) bool { return strings.Contains(p, m.want) }) {
			t.Errorf("a fragment with %s: problems %q, want one with %q", m.name, bad, m.want)
		}
	}
}
