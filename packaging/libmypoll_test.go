package packaging_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// libmypollInstall builds libmypoll with its own Makefile, with the
// variables the Buildroot package and the Yocto recipe pass, installs it into
// a fresh DESTDIR and returns the installed paths (relative, sorted) and the
// DESTDIR.
func libmypollInstall(t *testing.T, extra ...string) ([]string, string) {
	t.Helper()
	if _, err := exec.LookPath("cc"); err != nil {
		t.Fatalf("no C compiler (make deps installs gcc): %v", err)
	}
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "dest")
	args := append([]string{"-s", "-C", filepath.Join(root, "libmypoll"), "O=" + filepath.Join(tmp, "build"),
		"PREFIX=/usr", "LIBDIR=/usr/lib", "INCLUDEDIR=/usr/include", "WERROR=", "DESTDIR=" + dest}, extra...)
	out, err := exec.Command("make", append(args, "all", "install")...).CombinedOutput()
	if err != nil {
		t.Fatalf("make %v: %v\n%s", args, err, out)
	}
	var files []string
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dest, p)
			files = append(files, "/"+filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	return files, dest
}

// libmypollVersion is VERSION of libmypoll/Makefile (the shared object's
// file name); its major must be the soname's 1.
func libmypollVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../libmypoll/Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "VERSION" {
			v = strings.TrimSpace(v)
			if !strings.HasPrefix(v, "1.") || strings.Count(v, ".") != 2 {
				t.Fatalf("libmypoll/Makefile: VERSION %q, want 1.MINOR.PATCH (soname libmypoll.so.1)", v)
			}
			return v
		}
	}
	t.Fatal("libmypoll/Makefile: no VERSION")
	return ""
}

// TestLibmypoll_Install: the library's install is what both trees package:
// the header, the versioned shared object and its soname and dev links, the
// archive and a .pc whose paths pkg-config resolves inside a sysroot.
func TestLibmypoll_Install(t *testing.T) {
	files, dest := libmypollInstall(t)
	so := "libmypoll.so." + libmypollVersion(t)
	want := []string{
		"/usr/include/libmypoll.h",
		"/usr/lib/libmypoll.a",
		"/usr/lib/libmypoll.so",
		"/usr/lib/libmypoll.so.1",
		"/usr/lib/" + so,
		"/usr/lib/pkgconfig/libmypoll.pc",
	}
	if !slices.Equal(files, want) {
		t.Fatalf("installed %q, want %q", files, want)
	}
	for link, target := range map[string]string{"/usr/lib/libmypoll.so": "libmypoll.so.1", "/usr/lib/libmypoll.so.1": so} {
		if got, err := os.Readlink(filepath.Join(dest, link)); err != nil || got != target {
			t.Errorf("%s -> %q (%v), want a relative link to %s", link, got, err, target)
		}
	}
	pc := mustRead(t, filepath.Join(dest, "usr/lib/pkgconfig/libmypoll.pc"))
	for _, w := range []string{"prefix=/usr\n", "libdir=/usr/lib\n", "includedir=/usr/include\n", "Libs: -L${libdir} -lmypoll\n", "Cflags: -I${includedir}\n"} {
		if !strings.Contains(pc, w) {
			t.Errorf("libmypoll.pc lacks %q:\n%s", w, pc)
		}
	}
	// A dependent package's pkg-config call, as Buildroot runs it
	// against staging (make deps installs pkgconf).
	cmd := exec.Command("pkg-config", "--cflags", "--libs", "libmypoll")
	cmd.Env = append(os.Environ(), "PKG_CONFIG_SYSROOT_DIR="+dest, "PKG_CONFIG_LIBDIR="+filepath.Join(dest, "usr/lib/pkgconfig"))
	out, err := cmd.Output()
	if want := "-I" + dest + "/usr/include -L" + dest + "/usr/lib -lmypoll"; err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("pkg-config libmypoll = %q (%v), want %q", out, err, want)
	}
	// The static-only and shared-only builds Buildroot selects.
	static, _ := libmypollInstall(t, "LIBKINDS=static")
	if slices.ContainsFunc(static, func(f string) bool { return strings.Contains(f, ".so") }) || !slices.Contains(static, "/usr/lib/libmypoll.a") {
		t.Errorf("LIBKINDS=static installed %q", static)
	}
	shared, _ := libmypollInstall(t, "LIBKINDS=shared")
	if slices.Contains(shared, "/usr/lib/libmypoll.a") || !slices.Contains(shared, "/usr/lib/libmypoll.so.1") {
		t.Errorf("LIBKINDS=shared installed %q", shared)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLibmypoll_Buildroot: the package builds with libmypoll/Makefile into
// staging and target, follows the toolchain's static/shared choice, and is
// sourced by the tree's Config.in.
func TestLibmypoll_Buildroot(t *testing.T) {
	const pkg = "br2-external/package/libmypoll/"
	v := mkVars(t, pkg+"libmypoll.mk")
	if !strings.Contains(read(t, pkg+"Config.in"), "config BR2_PACKAGE_LIBMYPOLL\n") {
		t.Errorf("%sConfig.in does not define BR2_PACKAGE_LIBMYPOLL", pkg)
	}
	if !strings.Contains(read(t, "br2-external/Config.in"), `source "$BR2_EXTERNAL_MYPOLL_PATH/package/libmypoll/Config.in"`) {
		t.Errorf("br2-external/Config.in does not source package/libmypoll/Config.in")
	}
	if v["LIBMYPOLL_SITE"] != "$(BR2_EXTERNAL_MYPOLL_PATH)/.." || v["LIBMYPOLL_SITE_METHOD"] != "local" {
		t.Errorf("LIBMYPOLL_SITE = %q (%s), want the checkout, local", v["LIBMYPOLL_SITE"], v["LIBMYPOLL_SITE_METHOD"])
	}
	if v["LIBMYPOLL_VERSION"] != mkVars(t, "br2-external/package/mypolld/mypolld.mk")["MYPOLLD_VERSION"] {
		t.Errorf("LIBMYPOLL_VERSION %q differs from MYPOLLD_VERSION (one source tree)", v["LIBMYPOLL_VERSION"])
	}
	for _, f := range strings.Fields(v["LIBMYPOLL_LICENSE_FILES"]) {
		mustExist(t, f, pkg+"libmypoll.mk")
	}
	excl := v["LIBMYPOLL_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS"]
	if strings.Contains(excl, "/libmypoll ") || strings.HasSuffix(excl, "/libmypoll") || strings.Contains(excl, "/LICENSE") {
		t.Errorf("rsync exclusions %q drop what the build needs", excl)
	}
	if v["LIBMYPOLL_INSTALL_STAGING"] != "YES" {
		t.Errorf("LIBMYPOLL_INSTALL_STAGING = %q, want YES (dependents link against staging)", v["LIBMYPOLL_INSTALL_STAGING"])
	}
	for _, step := range []struct{ name, dest string }{
		{"LIBMYPOLL_BUILD_CMDS", ""},
		{"LIBMYPOLL_INSTALL_STAGING_CMDS", "DESTDIR=$(STAGING_DIR)"},
		{"LIBMYPOLL_INSTALL_TARGET_CMDS", "DESTDIR=$(TARGET_DIR)"},
	} {
		cmd := strings.Join(strings.Fields(v[step.name]), " ")
		if !strings.Contains(cmd, "$(MAKE) -C $(@D)/libmypoll $(LIBMYPOLL_MAKE_OPTS)") || !strings.Contains(cmd, step.dest) {
			t.Errorf("%s = %q, want libmypoll/Makefile with LIBMYPOLL_MAKE_OPTS %s", step.name, cmd, step.dest)
		}
	}
	opts := v["LIBMYPOLL_MAKE_OPTS"]
	for _, w := range []string{"$(TARGET_CONFIGURE_OPTS)", "PREFIX=/usr", "WERROR=", "LIBKINDS=static", "LIBKINDS=shared"} {
		if !strings.Contains(opts, w) {
			t.Errorf("LIBMYPOLL_MAKE_OPTS = %q lacks %s", opts, w)
		}
	}
	if !strings.Contains(read(t, "libmypoll/Makefile"), "LIBKINDS  ?= static shared") {
		t.Errorf("libmypoll/Makefile does not take LIBKINDS, which the package passes")
	}
}

// TestLibmypoll_Yocto: the recipe builds with the same Makefile and its
// install lands in the wanted packages under the default FILES split:
// the shared object in ${PN}, header, dev link and .pc in ${PN}-dev.
func TestLibmypoll_Yocto(t *testing.T) {
	const rel = "meta-mypoll/recipes-mypoll/libmypoll/libmypoll_git.bb"
	v := bbVars(t, rel)
	text := v["BBFILE:"+rel]
	if v["S"] != "${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX}" {
		t.Errorf("S = %q, want the checkout", v["S"])
	}
	checkLicFiles(t, v["LIC_FILES_CHKSUM"], "", ".")
	opts := v["EXTRA_OEMAKE"]
	for _, w := range []string{"-C ${S}/libmypoll", "PREFIX=${prefix}", "LIBDIR=${libdir}", "INCLUDEDIR=${includedir}", "WERROR="} {
		if !strings.Contains(opts, w) {
			t.Errorf("EXTRA_OEMAKE = %q lacks %s", opts, w)
		}
	}
	if !strings.Contains(text, "oe_runmake install DESTDIR=${D}") {
		t.Errorf("%s does not install with DESTDIR=${D}", rel)
	}
	for _, k := range []string{"FILES:${PN}", "FILES:${PN}-dev", "FILES:${PN}-staticdev"} {
		if _, ok := v[k]; ok {
			t.Errorf("%s sets %s: the test below assumes the default split", rel, k)
		}
	}
	// bitbake.conf's defaults (SOLIBS = ".so.*", SOLIBSDEV = ".so").
	split := func(f string) string {
		base := path.Base(f)
		switch {
		case strings.HasPrefix(f, "/usr/lib/") && strings.Contains(base, ".so.") && path.Dir(f) == "/usr/lib":
			return "${PN}"
		case strings.HasPrefix(f, "/usr/include/"), strings.HasPrefix(f, "/usr/lib/pkgconfig/"),
			path.Dir(f) == "/usr/lib" && strings.HasSuffix(base, ".so"):
			return "${PN}-dev"
		case path.Dir(f) == "/usr/lib" && strings.HasSuffix(base, ".a"):
			return "${PN}-staticdev"
		}
		return "unpackaged"
	}
	files, _ := libmypollInstall(t)
	so := "/usr/lib/libmypoll.so." + libmypollVersion(t)
	got := map[string][]string{}
	for _, f := range files {
		got[split(f)] = append(got[split(f)], f)
	}
	want := map[string][]string{
		"${PN}":           {"/usr/lib/libmypoll.so.1", so},
		"${PN}-dev":       {"/usr/include/libmypoll.h", "/usr/lib/libmypoll.so", "/usr/lib/pkgconfig/libmypoll.pc"},
		"${PN}-staticdev": {"/usr/lib/libmypoll.a"},
	}
	for pkg, w := range want {
		if !slices.Equal(got[pkg], w) {
			t.Errorf("%s gets %q, want %q", pkg, got[pkg], w)
		}
	}
	if u := got["unpackaged"]; len(u) > 0 {
		t.Errorf("installed but in no package: %q", u)
	}
}
