package packaging_test

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the repository root, relative to this package's directory.
const root = ".."

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(b)
}

func mustExist(t *testing.T, rel, who string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
		t.Errorf("%s references %s, which does not exist: %v", who, rel, err)
	}
}

// goModule returns the module path and the requirements (path -> version)
// of go.mod.
func goModule(t *testing.T) (string, map[string]string) {
	t.Helper()
	var mod string
	req := map[string]string{}
	inBlock := false
	for line := range strings.Lines(read(t, "go.mod")) {
		f := strings.Fields(strings.SplitN(line, "//", 2)[0])
		switch {
		case len(f) == 2 && f[0] == "module":
			mod = f[1]
		case len(f) >= 2 && f[0] == "require" && f[1] == "(":
			inBlock = true
		case len(f) == 1 && f[0] == ")":
			inBlock = false
		case inBlock && len(f) == 2:
			req[f[0]] = f[1]
		case len(f) == 3 && f[0] == "require":
			req[f[1]] = f[2]
		}
	}
	if mod == "" {
		t.Fatal("go.mod has no module line")
	}
	return mod, req
}

// brGoMk is the shared include of the Go packages: external.mk includes it
// first, and each Go package's .mk calls its mypoll-go-package macro.
const brGoMk = "br2-external/package/mypoll-go.mk"

// mkVars parses a Buildroot .mk file into variable -> value, joining
// backslash continuations and (nested) define blocks. A line
// $(eval $(call NAME,PREFIX)) of a macro of brGoMk is replaced by the
// macro's body, with $(1) = PREFIX, $$ = $ and the lines' indent dropped, as
// make's call and eval do.
func mkVars(t *testing.T, rel string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	var macros map[string]string
	if rel != brGoMk {
		macros = mkVars(t, brGoMk)
	}
	parseMk(t, strings.ReplaceAll(read(t, rel), "\\\n", " "), vars, macros)
	return vars
}

var mkCall = regexp.MustCompile(`^\$\(eval \$\(call ([a-z0-9-]+),([A-Z0-9_]+)\)\)$`)

func parseMk(t *testing.T, text string, vars, macros map[string]string) {
	t.Helper()
	var define string
	var body []string
	depth := 0
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\n")
		if define != "" {
			switch {
			case line == "endef" && depth == 0:
				vars[define] = strings.Join(body, "\n")
				define, body = "", nil
			default:
				if line == "endef" {
					depth--
				} else if strings.HasPrefix(line, "define ") {
					depth++
				}
				body = append(body, line)
			}
			continue
		}
		if name, ok := strings.CutPrefix(line, "define "); ok {
			define = strings.TrimSpace(name)
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		if m := mkCall.FindStringSubmatch(line); m != nil {
			macro, ok := macros[m[1]]
			if !ok {
				t.Fatalf("$(call %s,...): no such macro in %s", m[1], brGoMk)
			}
			macro = strings.ReplaceAll(strings.ReplaceAll(macro, "$(1)", m[2]), "$$", "$")
			var body strings.Builder
			for l := range strings.Lines(macro) {
				body.WriteString(strings.TrimLeft(l, " \t"))
			}
			parseMk(t, body.String(), vars, macros)
			continue
		}
		for _, op := range []string{" += ", " = "} {
			if k, v, ok := strings.Cut(line, op); ok && !strings.ContainsAny(k, " \t$") {
				if op == " += " {
					vars[k] = strings.TrimSpace(vars[k] + " " + strings.Join(strings.Fields(v), " "))
				} else {
					vars[k] = strings.Join(strings.Fields(v), " ")
				}
				break
			}
		}
	}
}

// bbVars parses a BitBake recipe or include (and the includes it requires
// from this layer) into variable -> value, for plain assignments only.
func bbVars(t *testing.T, rel string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	var parse func(rel string)
	assign := regexp.MustCompile(`^(export\s+)?([A-Za-z0-9_:${}-]+)\s*(\?\?=|\?=|\+=|=)\s*"(.*)"\s*$`)
	parse = func(rel string) {
		text := strings.ReplaceAll(read(t, rel), "\\\n", " ")
		for line := range strings.Lines(text) {
			line = strings.TrimSpace(line)
			if inc, ok := strings.CutPrefix(line, "require "); ok {
				parse(filepath.Join("meta-mypoll", inc))
				continue
			}
			m := assign.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			v := strings.Join(strings.Fields(m[4]), " ")
			switch m[3] {
			case "+=":
				vars[m[2]] = strings.TrimSpace(vars[m[2]] + " " + v)
			case "?=", "??=":
				if _, ok := vars[m[2]]; !ok {
					vars[m[2]] = v
				}
			default:
				vars[m[2]] = v
			}
		}
		vars["BBFILE:"+rel] = text
	}
	parse(rel)
	return vars
}

var (
	brPackages = map[string]string{ // package -> variable prefix
		"mypolld":          "MYPOLLD",
		"mypoll-bridge":    "MYPOLL_BRIDGE",
		"mypoll-kmod":      "MYPOLL_KMOD",
		"mypoll-testagent": "MYPOLL_TESTAGENT",
	}
	goRecipes = []string{
		"meta-mypoll/recipes-mypoll/mypolld/mypolld_git.bb",
		"meta-mypoll/recipes-mypoll/mypoll-bridge/mypoll-bridge_git.bb",
		"meta-mypoll/recipes-mypoll/mypoll-testagent/mypoll-testagent_git.bb",
	}
	modRecipe = "meta-mypoll/recipes-kernel/mypoll-mod/mypoll-mod_git.bb"
)

func brVars(t *testing.T, pkg string) (map[string]string, string) {
	t.Helper()
	return mkVars(t, filepath.Join("br2-external/package", pkg, pkg+".mk")), brPackages[pkg]
}

// TestBuildroot_GoPackages: _GOMOD is go.mod's module (the infra guesses it
// from the site otherwise), the build targets are main packages, the build
// is static, and the rsync exclusions keep what the build needs.
func TestBuildroot_GoPackages(t *testing.T) {
	mod, _ := goModule(t)
	for _, pkg := range []string{"mypolld", "mypoll-testagent", "mypoll-bridge"} {
		t.Run(pkg, func(t *testing.T) {
			v, p := brVars(t, pkg)
			if got := v[p+"_GOMOD"]; got != mod {
				t.Errorf("%s_GOMOD = %q, want go.mod's module %q", p, got, mod)
			}
			if v[p+"_SITE"] != "$(BR2_EXTERNAL_MYPOLL_PATH)/.." || v[p+"_SITE_METHOD"] != "local" {
				t.Errorf("%s site = %q (%q), want the checkout, method local", p, v[p+"_SITE"], v[p+"_SITE_METHOD"])
			}
			if !strings.Contains(v[p+"_GO_ENV"], "CGO_ENABLED=0") {
				t.Errorf("%s_GO_ENV = %q, want CGO_ENABLED=0 (static)", p, v[p+"_GO_ENV"])
			}
			checkVersionFlag(t, p+"_LDFLAGS", v[p+"_LDFLAGS"], mod)
			excluded := map[string]bool{}
			for _, f := range strings.Fields(v[p+"_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS"]) {
				if d, ok := strings.CutPrefix(f, "/"); ok {
					excluded[d] = true
				}
			}
			for _, need := range []string{"out", "br2-external", "meta-mypoll"} {
				if !excluded[need] {
					t.Errorf("%s rsync exclusions miss /%s", p, need)
				}
			}
			targets := strings.Fields(v[p+"_BUILD_TARGETS"])
			if len(targets) == 0 {
				t.Fatalf("%s_BUILD_TARGETS is empty", p)
			}
			for _, d := range targets {
				checkMainPackage(t, d, p+"_BUILD_TARGETS")
				for _, need := range append([]string{"init", "vendor", "go.mod", "go.sum", "LICENSE"}, topDirs(t, mod, d)...) {
					if excluded[need] {
						t.Errorf("%s rsync exclusions drop /%s, which building %s needs", p, need, d)
					}
				}
			}
			for _, f := range strings.Fields(v[p+"_LICENSE_FILES"]) {
				mustExist(t, f, p+"_LICENSE_FILES")
			}
			checkDirRefs(t, v, "$(@D)/", "", pkg+".mk")
			checked := staticChecked(t, v, p)
			for _, b := range installBins(v, p) {
				if !slices.Contains(checked, b) {
					t.Errorf("%s installs /usr/bin/%s but no post-install hook checks that it is static", p, b)
				}
			}
		})
	}
}

// TestBuildroot_GoShared: the settings every Go package shares are stated
// once, in the shared include (as Buildroot's multi-package trees do,
// package/qt6/qt6.mk), not copied into each package's .mk; external.mk
// includes it before the packages.
func TestBuildroot_GoShared(t *testing.T) {
	ext := read(t, "br2-external/external.mk")
	inc := strings.Index(ext, "include $(BR2_EXTERNAL_MYPOLL_PATH)/package/mypoll-go.mk\n")
	pkgs := strings.Index(ext, "package/*/*.mk")
	if inc < 0 || pkgs < 0 || inc > pkgs {
		t.Errorf("br2-external/external.mk does not include package/mypoll-go.mk before the packages")
	}
	shared := []string{"_VERSION", "_SITE", "_SITE_METHOD", "_GOMOD", "_LDFLAGS", "_TAGS", "_GO_ENV", "_CHECK_STATIC"}
	for _, pkg := range []string{"mypolld", "mypoll-testagent", "mypoll-bridge"} {
		p := brPackages[pkg]
		rel := filepath.Join("br2-external/package", pkg, pkg+".mk")
		text := read(t, rel)
		if !strings.Contains(text, "$(eval $(call mypoll-go-package,"+p+"))\n$(eval $(golang-package))\n") {
			t.Errorf("%s does not call mypoll-go-package right before golang-package", rel)
		}
		for _, s := range shared {
			if regexp.MustCompile(`(?m)^(define )?` + p + s + `( |$)`).MatchString(text) {
				t.Errorf("%s sets %s%s itself: it comes from %s", rel, p, s, brGoMk)
			}
		}
	}
}

// installBins: the binaries golang-package installs in /usr/bin
// (package/pkg-golang.mk: _BIN_NAME, else each build target's last element).
func installBins(v map[string]string, p string) []string {
	if b := v[p+"_BIN_NAME"]; b != "" {
		return []string{b}
	}
	var bins []string
	for _, d := range strings.Fields(v[p+"_BUILD_TARGETS"]) {
		bins = append(bins, filepath.Base(d))
	}
	return bins
}

// staticChecked: the binaries p's post-install hooks check are static, by
// name or as p's _INSTALL_BINS (directly, or through $(PKG), which
// package/pkg-generic.mk sets to p while its hooks run).
func staticChecked(t *testing.T, v map[string]string, p string) []string {
	t.Helper()
	shared := mkVars(t, brGoMk)
	var names []string
	for _, h := range strings.Fields(v[p+"_POST_INSTALL_TARGET_HOOKS"]) {
		hook, ok := v[h]
		if !ok {
			hook = shared[h]
		}
		if !strings.Contains(hook, "INTERP") {
			continue
		}
		if strings.Contains(hook, "$("+p+"_INSTALL_BINS)") || strings.Contains(hook, "$($(PKG)_INSTALL_BINS)") {
			names = append(names, installBins(v, p)...)
		}
		for _, m := range regexp.MustCompile(`/usr/bin/([A-Za-z0-9_.-]+)`).FindAllStringSubmatch(hook, -1) {
			names = append(names, m[1])
		}
		for _, m := range regexp.MustCompile(`for b in ([^;$]+);`).FindAllStringSubmatch(hook, -1) {
			names = append(names, strings.Fields(m[1])...)
		}
	}
	return names
}

// checkVersionFlag: the -X flag names the version variable of the project.
func checkVersionFlag(t *testing.T, name, flags, mod string) {
	t.Helper()
	m := regexp.MustCompile(`-X (\S+)\.Version=`).FindStringSubmatch(flags)
	if m == nil {
		t.Errorf("%s = %q, want -X <pkg>.Version=...", name, flags)
		return
	}
	dir, ok := strings.CutPrefix(m[1], mod+"/")
	if !ok {
		t.Errorf("%s sets %s, outside module %s", name, m[1], mod)
		return
	}
	src := readGoFiles(t, dir)
	if !regexp.MustCompile(`(?m)^\s*(var\s+)?Version\s+(string\s*)?(=|$)`).MatchString(src) {
		t.Errorf("%s sets %s.Version, but %s declares no Version variable", name, m[1], dir)
	}
}

func readGoFiles(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

func checkMainPackage(t *testing.T, dir, who string) {
	t.Helper()
	src := readGoFiles(t, dir)
	if !regexp.MustCompile(`(?m)^package main\b`).MatchString(src) {
		t.Errorf("%s names %s, which is not a main package", who, dir)
	}
}

// topDirs: the top-level directories of the module's own packages that
// building dir imports.
func topDirs(t *testing.T, mod, dir string) []string {
	t.Helper()
	out := goList(t, "-deps", "-f", "{{.ImportPath}}", "./"+dir)
	var tops []string
	for _, p := range out {
		if rel, ok := strings.CutPrefix(p, mod+"/"); ok && !strings.HasPrefix(rel, "vendor/") {
			tops = append(tops, strings.SplitN(rel, "/", 2)[0])
		}
	}
	slices.Sort(tops)
	return slices.Compact(tops)
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-mod=vendor"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=vendor", "GOPROXY=off", "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %v: %v\n%s", args, err, msg)
	}
	return strings.Fields(string(out))
}

// checkDirRefs: every "<prefix>path" in the values exists at base/path.
func checkDirRefs(t *testing.T, vars map[string]string, prefix, base, who string) int {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(prefix) + `([A-Za-z0-9_./-]+)`)
	n := 0
	for name, val := range vars {
		for _, m := range re.FindAllStringSubmatch(val, -1) {
			if m[1] == "bin" || strings.HasPrefix(m[1], "bin/") {
				continue // build output
			}
			mustExist(t, filepath.Join(base, m[1]), who+" "+name)
			n++
		}
	}
	return n
}

// TestBuildroot_KernelModule: the module package builds kmod/, names a
// licence file that exists, and autoloads the module Kbuild builds.
func TestBuildroot_KernelModule(t *testing.T) {
	v, p := brVars(t, "mypoll-kmod")
	if v[p+"_SITE"] != "$(BR2_EXTERNAL_MYPOLL_PATH)/../kmod" {
		t.Errorf("%s_SITE = %q, want the kmod/ directory", p, v[p+"_SITE"])
	}
	for _, f := range strings.Fields(v[p+"_LICENSE_FILES"]) {
		mustExist(t, filepath.Join("kmod", f), p+"_LICENSE_FILES")
	}
	if n := checkDirRefs(t, v, "$(MYPOLL_KMOD_INIT_DIR)/", "init", "mypoll-kmod.mk"); n == 0 {
		t.Errorf("mypoll-kmod.mk installs nothing from init/ (want modules-load.d/mypoll.conf)")
	}
	text := read(t, "br2-external/package/mypoll-kmod/mypoll-kmod.mk")
	for _, want := range []string{"$(eval $(kernel-module))", "$(eval $(generic-package))"} {
		if !strings.Contains(text, want) {
			t.Errorf("mypoll-kmod.mk lacks %s", want)
		}
	}
	name := kbuildModule(t)
	var loaded []string
	for line := range strings.Lines(read(t, "init/modules-load.d/mypoll.conf")) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			loaded = append(loaded, line)
		}
	}
	if !slices.Equal(loaded, []string{name}) {
		t.Errorf("init/modules-load.d/mypoll.conf loads %q, want [%q] (kmod/Kbuild obj-m)", loaded, name)
	}
}

func kbuildModule(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^obj-m\s*[:+]?=\s*(\S+)\.o\b`).FindStringSubmatch(read(t, "kmod/Kbuild"))
	if m == nil {
		t.Fatal("kmod/Kbuild has no obj-m line")
	}
	return m[1]
}

// TestBuildroot_Tree: the Kconfig, defconfig and board files name files that
// exist, every package is in Config.in, and the readme names each defconfig
// (TestBuildroot_PostImage checks its qemu lines).
func TestBuildroot_Tree(t *testing.T) {
	cfg := read(t, "br2-external/Config.in")
	srcRe := regexp.MustCompile(`source "\$BR2_EXTERNAL_MYPOLL_PATH/([^"]+)"`)
	var sourced []string
	for _, m := range srcRe.FindAllStringSubmatch(cfg, -1) {
		mustExist(t, filepath.Join("br2-external", m[1]), "br2-external/Config.in")
		sourced = append(sourced, m[1])
	}
	for pkg, p := range brPackages {
		if !slices.Contains(sourced, "package/"+pkg+"/Config.in") {
			t.Errorf("br2-external/Config.in does not source package/%s/Config.in", pkg)
		}
		sym := "BR2_PACKAGE_" + p
		if !strings.Contains(read(t, "br2-external/package/"+pkg+"/Config.in"), "config "+sym+"\n") {
			t.Errorf("package/%s/Config.in does not define %s", pkg, sym)
		}
	}
	if !slices.IsSorted(sourced) {
		t.Errorf("br2-external/Config.in sources are not sorted: %q", sourced)
	}
	defs, _ := filepath.Glob(filepath.Join(root, "br2-external/configs/*_defconfig"))
	if len(defs) == 0 {
		t.Fatal("no defconfig in br2-external/configs")
	}
	readme := read(t, "br2-external/board/qemu-aarch64-virt/readme.txt")
	for _, d := range defs {
		name := filepath.Base(d)
		text := read(t, filepath.Join("br2-external/configs", name))
		n := checkDirRefs(t, map[string]string{name: text}, "$(BR2_EXTERNAL_MYPOLL_PATH)/", "br2-external", name)
		if n == 0 {
			t.Errorf("%s names no file of the external tree", name)
		}
		for _, want := range []string{"BR2_DOWNLOAD_FORCE_CHECK_HASHES=y", "BR2_PACKAGE_MYPOLLD=y", "BR2_PACKAGE_MYPOLL_KMOD=y"} {
			if !strings.Contains(text, want+"\n") {
				t.Errorf("%s lacks %s", name, want)
			}
		}
		if !strings.Contains(readme, name) {
			t.Errorf("readme.txt does not mention %s", name)
		}
	}
	if !strings.Contains(readme, "name=mypoll.test") {
		t.Errorf("readme.txt qemu line lacks the virtio-serial port mypoll.test")
	}
}

// TestYocto_GoRecipes: GO_IMPORT is the module, GO_INSTALL names main
// packages, the static-link settings are there, and the recipe lists the
// licence of every module its binaries link.
func TestYocto_GoRecipes(t *testing.T) {
	mod, _ := goModule(t)
	inc := bbVars(t, "meta-mypoll/recipes-mypoll/include/mypoll-go.inc")
	incText := inc["BBFILE:meta-mypoll/recipes-mypoll/include/mypoll-go.inc"]
	for _, want := range []string{
		`export CGO_ENABLED = "0"`,
		`GO_DYNLINK:forcevariable = ""`,
		`GOBUILDFLAGS:remove = "-buildmode=pie"`,
		`export GOFLAGS = "-mod=vendor"`,
		"inherit go-mod",
	} {
		if !strings.Contains(incText, want+"\n") {
			t.Errorf("mypoll-go.inc lacks %s", want)
		}
	}
	for _, rec := range goRecipes {
		t.Run(filepath.Base(rec), func(t *testing.T) {
			v := bbVars(t, rec)
			if v["GO_IMPORT"] != mod {
				t.Errorf("GO_IMPORT = %q, want go.mod's module %q", v["GO_IMPORT"], mod)
			}
			checkVersionFlag(t, "GO_EXTRA_LDFLAGS", strings.ReplaceAll(v["GO_EXTRA_LDFLAGS"], "${GO_IMPORT}", mod), mod)
			var pkgs []string
			for _, p := range strings.Fields(v["GO_INSTALL"]) {
				rel, ok := strings.CutPrefix(p, "${GO_IMPORT}/")
				if !ok {
					t.Errorf("GO_INSTALL entry %q is not under ${GO_IMPORT}", p)
					continue
				}
				checkMainPackage(t, rel, "GO_INSTALL")
				pkgs = append(pkgs, "./"+rel)
			}
			if len(pkgs) == 0 {
				t.Fatal("GO_INSTALL is empty")
			}
			checkDirRefs(t, v, "${MYPOLL_INIT}/", "init", rec)
			licensed := checkLicFiles(t, v["LIC_FILES_CHKSUM"], "src/${GO_IMPORT}/", "")
			deps := goList(t, append([]string{"-deps", "-f", "{{with .Module}}{{.Path}}{{end}}"}, pkgs...)...)
			slices.Sort(deps)
			for _, m := range slices.Compact(deps) {
				if m == mod {
					continue
				}
				if !slices.ContainsFunc(licensed, func(f string) bool { return strings.HasPrefix(f, "vendor/"+m+"/") }) {
					t.Errorf("%s links module %s but LIC_FILES_CHKSUM has no vendor/%s/<licence file>", rec, m, m)
				}
			}
		})
	}
}

// checkLicFiles checks every file:// entry of LIC_FILES_CHKSUM: the file
// exists (prefix stripped, under base) and its md5 (whole file, or the
// beginline..endline range, as insane.bbclass computes it) is right. It
// returns the files named.
func checkLicFiles(t *testing.T, val, prefix, base string) []string {
	t.Helper()
	var files []string
	for _, e := range strings.Fields(val) {
		parts := strings.Split(strings.TrimPrefix(e, "file://"), ";")
		rel, ok := strings.CutPrefix(parts[0], prefix)
		if !ok {
			t.Errorf("LIC_FILES_CHKSUM entry %q is not under %s", e, prefix)
			continue
		}
		params := map[string]string{}
		for _, p := range parts[1:] {
			k, v, _ := strings.Cut(p, "=")
			params[k] = v
		}
		files = append(files, rel)
		data, err := os.ReadFile(filepath.Join(root, base, rel))
		if err != nil {
			t.Errorf("LIC_FILES_CHKSUM names %s: %v", rel, err)
			continue
		}
		begin, _ := strconv.Atoi(params["beginline"])
		end, _ := strconv.Atoi(params["endline"])
		if begin > 0 || end > 0 {
			var sel []byte
			for i, line := range strings.SplitAfter(string(data), "\n") {
				if n := i + 1; n >= begin && (end == 0 || n <= end) {
					sel = append(sel, line...)
				}
			}
			data = sel
		}
		sum := md5.Sum(data)
		if got := hex.EncodeToString(sum[:]); got != params["md5"] {
			t.Errorf("LIC_FILES_CHKSUM %s: md5=%s, the file has md5=%s", rel, params["md5"], got)
		}
	}
	if len(files) == 0 {
		t.Errorf("LIC_FILES_CHKSUM names no file")
	}
	return files
}

// TestYocto_ModuleRecipe: the module recipe builds kmod/ with the module
// class, leaves its runtime name to kernel-module-split, autoloads the
// module Kbuild builds, and its licence checksum matches the source.
func TestYocto_ModuleRecipe(t *testing.T) {
	v := bbVars(t, modRecipe)
	text := v["BBFILE:"+modRecipe]
	if v["S"] != "${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX}/kmod" {
		t.Errorf("S = %q, want the kmod/ directory of the checkout", v["S"])
	}
	mustExist(t, "kmod/Makefile", modRecipe+" (module.bbclass runs it)")
	if !strings.Contains(read(t, "kmod/Makefile"), "KERNEL_SRC") {
		t.Errorf("kmod/Makefile does not use KERNEL_SRC, which module.bbclass sets")
	}
	if !strings.Contains(text, "inherit module\n") {
		t.Errorf("%s does not inherit module", modRecipe)
	}
	name := kbuildModule(t)
	// kernel-module-split provides kernel-module-<name> already; an
	// RPROVIDES of its own makes an empty mypoll-mod package a second
	// provider of that name (issue 22, item 4).
	if rp, ok := v["RPROVIDES:${PN}"]; ok {
		t.Errorf("RPROVIDES:${PN} = %q: redundant, kernel-module-split provides kernel-module-%s", rp, name)
	}
	if v["KERNEL_MODULE_AUTOLOAD"] != name {
		t.Errorf("KERNEL_MODULE_AUTOLOAD = %q, want %q", v["KERNEL_MODULE_AUTOLOAD"], name)
	}
	checkLicFiles(t, v["LIC_FILES_CHKSUM"], "", "kmod")
}

// TestYocto_Layer: layer.conf names the collection and series, the layer
// has the files yocto-check-layer wants, and the image pulls in the
// packages the recipes provide.
func TestYocto_Layer(t *testing.T) {
	conf := read(t, "meta-mypoll/conf/layer.conf")
	for _, want := range []string{
		`BBFILE_COLLECTIONS += "mypoll"`,
		`LAYERSERIES_COMPAT_mypoll = "wrynose"`,
		`LAYERDEPENDS_mypoll = "core"`,
	} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("layer.conf lacks %s", want)
		}
	}
	for _, f := range []string{"README.md", "SECURITY.md", "COPYING.MIT", "lib/oeqa/runtime/cases/mypoll.py"} {
		mustExist(t, filepath.Join("meta-mypoll", f), "meta-mypoll")
	}
	readme := read(t, "meta-mypoll/README.md")
	for _, want := range []string{"Maintainer", "patch", "wrynose"} {
		if !strings.Contains(readme, want) {
			t.Errorf("meta-mypoll/README.md lacks %q (yocto-check-layer wants it)", want)
		}
	}
	src := bbVars(t, "meta-mypoll/recipes-mypoll/include/mypoll-src.inc")
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(src["SRCREV"]) {
		t.Errorf("SRCREV = %q, want a full commit hash", src["SRCREV"])
	}
	mk := mkVars(t, "br2-external/package/mypolld/mypolld.mk")
	if !strings.HasPrefix(src["PV"], mk["MYPOLLD_VERSION"]+"+") {
		t.Errorf("PV = %q, want MYPOLLD_VERSION %q + suffix", src["PV"], mk["MYPOLLD_VERSION"])
	}
	pg := bbVars(t, "meta-mypoll/recipes-core/packagegroups/packagegroup-mypoll.bb")
	if !strings.Contains(pg["RDEPENDS:${PN}"], "kernel-module-"+kbuildModule(t)) || !strings.Contains(pg["RDEPENDS:${PN}"], "mypolld") {
		t.Errorf("packagegroup RDEPENDS:${PN} = %q, want mypolld and the module", pg["RDEPENDS:${PN}"])
	}
}

// TestInit_SharedFiles: the init files are the same for both trees: each
// file under init/ is installed by Buildroot, and each one Yocto installs
// is the same path (no copies that could drift).
func TestInit_SharedFiles(t *testing.T) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "init"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(filepath.Join(root, "init"), p)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var br, yocto strings.Builder
	for pkg := range brPackages {
		br.WriteString(read(t, filepath.Join("br2-external/package", pkg, pkg+".mk")))
	}
	for _, rec := range goRecipes {
		yocto.WriteString(read(t, rec))
	}
	for _, f := range files {
		if !strings.Contains(br.String(), "/init/"+f) && !strings.Contains(br.String(), "INIT_DIR)/"+f) {
			t.Errorf("init/%s is not installed by any Buildroot package", f)
		}
		// Yocto autoloads with KERNEL_MODULE_AUTOLOAD instead.
		if !strings.HasPrefix(f, "modules-load.d/") && !strings.Contains(yocto.String(), "${MYPOLL_INIT}/"+f) {
			t.Errorf("init/%s is not installed by any Yocto recipe", f)
		}
	}
	// Nothing under the trees duplicates an init file.
	for _, tree := range []string{"br2-external", "meta-mypoll"} {
		_ = filepath.WalkDir(filepath.Join(root, tree), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(p, "rootfs-overlay") {
				return err
			}
			for _, f := range files {
				if filepath.Base(p) == filepath.Base(f) {
					t.Errorf("%s duplicates init/%s: reference the shared file", p, f)
				}
			}
			return nil
		})
	}
}

// TestVendor_MatchesGoMod: vendor/modules.txt records exactly go.mod's
// requirements (what `go build -mod=vendor` checks in both build systems).
func TestVendor_MatchesGoMod(t *testing.T) {
	_, req := goModule(t)
	f, err := os.Open(filepath.Join(root, "vendor/modules.txt"))
	if err != nil {
		t.Fatalf("vendor/ is required (Buildroot and Yocto build with -mod=vendor): %v", err)
	}
	defer f.Close()
	got := map[string]string{}
	explicit := map[string]bool{}
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		switch {
		case len(fl) >= 3 && fl[0] == "#" && !strings.HasPrefix(fl[1], "#"):
			cur = fl[1]
			got[cur] = fl[2]
		case len(fl) >= 2 && fl[0] == "##" && slices.Contains(strings.Split(strings.Join(fl[1:], " "), "; "), "explicit"):
			explicit[cur] = true
		}
	}
	for m, v := range req {
		if got[m] != v {
			t.Errorf("go.mod requires %s %s, vendor/modules.txt has %q", m, v, got[m])
		} else if !explicit[m] {
			t.Errorf("vendor/modules.txt does not mark %s as explicit", m)
		}
	}
	for m := range got {
		if _, ok := req[m]; !ok && explicit[m] {
			t.Errorf("vendor/modules.txt has explicit %s, which go.mod does not require", m)
		}
	}
}
