package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The Yocto recipes build the commit SRCREV names, not the working tree:
// these tests check that commit (issue 22). The fix is always the same.
const srcrevFix = "pin a commit that builds with `sh scripts/release-pin.sh [<commit>]` " +
	"(it moves SRCREV and PV in meta-mypoll/recipes-mypoll/include/mypoll-src.inc and commits)"

const srcInc = "meta-mypoll/recipes-mypoll/include/mypoll-src.inc"

var libRecipe = "meta-mypoll/recipes-mypoll/libmypoll/libmypoll_git.bb"

// srcrev returns the pinned commit and fails the test if this clone does
// not have it.
func srcrev(t *testing.T) string {
	t.Helper()
	rev := bbVars(t, srcInc)["SRCREV"]
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(rev) {
		t.Fatalf("SRCREV = %q in %s, want a full commit hash; %s", rev, srcInc, srcrevFix)
	}
	if err := exec.Command("git", "-C", root, "cat-file", "-e", rev+"^{commit}").Run(); err != nil {
		shallow, _ := exec.Command("git", "-C", root, "rev-parse", "--is-shallow-repository").Output()
		if strings.TrimSpace(string(shallow)) == "true" {
			t.Fatalf("SRCREV %s (%s) is not in this clone, which is shallow: the check needs the "+
				"full history (`git fetch --unshallow`, or clone without --depth)", rev, srcInc)
		}
		t.Fatalf("SRCREV %s (%s) is not a commit of this repository; %s", rev, srcInc, srcrevFix)
	}
	return rev
}

// recipePaths lists, per recipe, the paths of the checkout it builds from
// or installs: S (as a path of the repository), the Go packages of
// GO_INSTALL, libmypoll's Makefile, the module's sources, the init files
// and the licence files.
func recipePaths(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	initRef := regexp.MustCompile(`\$\{MYPOLL_INIT\}/([A-Za-z0-9_./-]+)`)
	licRef := regexp.MustCompile(`file://([^;\s]+)`)
	for _, rec := range goRecipes {
		v := bbVars(t, rec)
		var paths []string
		for _, p := range strings.Fields(v["GO_INSTALL"]) {
			rel, ok := strings.CutPrefix(p, "${GO_IMPORT}/")
			if !ok {
				t.Errorf("%s: GO_INSTALL entry %q is not under ${GO_IMPORT}", rec, p)
				continue
			}
			paths = append(paths, rel+"/")
		}
		paths = append(paths, "go.mod", "vendor/modules.txt")
		for _, m := range initRef.FindAllStringSubmatch(v["BBFILE:"+rec], -1) {
			paths = append(paths, "init/"+m[1])
		}
		for _, m := range licRef.FindAllStringSubmatch(v["LIC_FILES_CHKSUM"], -1) {
			paths = append(paths, strings.TrimPrefix(m[1], "src/${GO_IMPORT}/"))
		}
		out[rec] = paths
	}
	lib := bbVars(t, libRecipe)
	m := regexp.MustCompile(`-C \$\{S\}/(\S+)`).FindStringSubmatch(lib["EXTRA_OEMAKE"])
	if m == nil {
		t.Fatalf("%s: EXTRA_OEMAKE = %q has no -C ${S}/<dir>", libRecipe, lib["EXTRA_OEMAKE"])
	}
	out[libRecipe] = []string{m[1] + "/Makefile", m[1] + "/include/libmypoll.h", "LICENSE"}
	mod := bbVars(t, modRecipe)
	sub, ok := strings.CutPrefix(mod["S"], "${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX}/")
	if !ok {
		t.Fatalf("%s: S = %q is not a directory of the checkout", modRecipe, mod["S"])
	}
	modPaths := []string{sub + "/Makefile", sub + "/Kbuild", sub + "/" + kbuildModule(t) + ".c"}
	for _, m := range licRef.FindAllStringSubmatch(mod["LIC_FILES_CHKSUM"], -1) {
		modPaths = append(modPaths, sub+"/"+m[1])
	}
	out[modRecipe] = modPaths
	return out
}

// TestYocto_SrcrevHasPaths: every path a recipe builds or installs exists
// in the commit SRCREV names.
func TestYocto_SrcrevHasPaths(t *testing.T) {
	rev := srcrev(t)
	for rec, paths := range recipePaths(t) {
		for _, p := range paths {
			obj := rev + ":" + strings.TrimSuffix(p, "/")
			if err := exec.Command("git", "-C", root, "cat-file", "-e", obj).Run(); err != nil {
				t.Errorf("%s builds %s, which SRCREV %.12s does not have", filepath.Base(rec), p, rev)
			}
		}
	}
	if t.Failed() {
		t.Log(srcrevFix)
	}
}

// archive exports commit rev into a new temporary directory.
func archive(t *testing.T, rev string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, "sh", root, rev, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", rev, err, out)
	}
	return dir
}

func runIn(t *testing.T, dir string, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

// TestYocto_SrcrevBuilds: the commit SRCREV names builds what the recipes
// build, as they build it: the Go binaries static for arm64 from vendor/,
// libmypoll with the recipe's make arguments (cross, no -Werror), and the
// module against the kernel that MYPOLL_SRCREV_KENV describes (a
// kernel.env of mk/kernel.mk; `make test-pkg-srcrev-kmod` sets it to the
// newest kernel of the matrix, after test-kmod has fetched it).
func TestYocto_SrcrevBuilds(t *testing.T) {
	rev := srcrev(t)
	src := archive(t, rev)
	t.Run("go", func(t *testing.T) {
		bin := t.TempDir()
		for _, rec := range goRecipes {
			var pkgs []string
			for _, p := range strings.Fields(bbVars(t, rec)["GO_INSTALL"]) {
				pkgs = append(pkgs, "./"+strings.TrimPrefix(p, "${GO_IMPORT}/"))
			}
			env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "GOFLAGS=-mod=vendor",
				"GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off"}
			args := append([]string{"build", "-trimpath", "-o", bin + "/"}, pkgs...)
			if out, err := runIn(t, src, env, "go", args...); err != nil {
				t.Errorf("%s: go build %s at SRCREV %.12s failed: %v\n%s\n%s",
					filepath.Base(rec), strings.Join(pkgs, " "), rev, err, out, srcrevFix)
			}
		}
	})
	t.Run("libmypoll", func(t *testing.T) {
		cc := "aarch64-linux-gnu-gcc"
		if _, err := exec.LookPath(cc); err != nil {
			t.Fatalf("%s not found (make deps installs gcc-aarch64-linux-gnu)", cc)
		}
		b, d := t.TempDir(), t.TempDir()
		args := []string{"-C", filepath.Join(src, "libmypoll"), "O=" + b, "PREFIX=/usr", "LIBDIR=/usr/lib",
			"INCLUDEDIR=/usr/include", "WERROR=", "CC=" + cc, "AR=aarch64-linux-gnu-ar"}
		out, err := runIn(t, src, nil, "make", append(args, "all")...)
		if err == nil {
			out, err = runIn(t, src, nil, "make", append(args, "install", "DESTDIR="+d)...)
		}
		if err != nil {
			t.Fatalf("libmypoll_git.bb: make at SRCREV %.12s failed: %v\n%s\n%s", rev, err, out, srcrevFix)
		}
		for _, f := range []string{"usr/lib/libmypoll.so.1", "usr/lib/libmypoll.a", "usr/include/libmypoll.h", "usr/lib/pkgconfig/libmypoll.pc"} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				t.Errorf("libmypoll at SRCREV %.12s installs no %s", rev, f)
			}
		}
	})
	t.Run("kmod", func(t *testing.T) {
		kenv := os.Getenv("MYPOLL_SRCREV_KENV")
		if kenv == "" {
			// Built by `make test-pkg-srcrev-kmod`, which runs after
			// test-kmod has the kernels; the paths are checked above.
			t.Skip("MYPOLL_SRCREV_KENV unset: the module is built by make test-pkg-srcrev-kmod")
		}
		buildModule(t, filepath.Join(src, strings.TrimPrefix(bbVars(t, modRecipe)["S"], "${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX}/")), kenv, rev)
	})
}

// kernelEnv reads a kernel.env (KEY=value lines).
func kernelEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("MYPOLL_SRCREV_KENV: %v", err)
	}
	env := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			env[k] = v
		}
	}
	return env
}

// buildModule builds the module sources in dir the way module.bbclass
// does (the kmod Makefile's default target with KERNEL_SRC; no W=1, no
// -Werror), inside the kernel's chroot when it has one.
func buildModule(t *testing.T, dir, kenvPath, rev string) {
	t.Helper()
	k := kernelEnv(t, kenvPath)
	kdir, inner, base := k["KDIR"], "", ""
	if k["KCHROOT"] != "" {
		kdir = k["KDIR_IN"]
		tmp := filepath.Join(k["KCHROOT"], "tmp")
		b, err := os.MkdirTemp(tmp, "mypoll-srcrev-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(b) })
		base, inner = b, "/tmp/"+filepath.Base(b)
	} else {
		base = t.TempDir()
		inner = base
	}
	if out, err := exec.Command("cp", "-r", dir+"/.", base).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	args := []string{"-C", inner, "KERNEL_SRC=" + kdir, "ARCH=arm64", "CROSS_COMPILE=aarch64-linux-gnu-"}
	var cmd *exec.Cmd
	if k["KCHROOT"] != "" {
		cmd = exec.Command("chroot", append([]string{k["KCHROOT"], "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "make"}, args...)...)
	} else {
		cmd = exec.Command("make", args...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mypoll-mod_git.bb: the module at SRCREV %.12s does not build against %s (%s): %v\n%s\n%s",
			rev, k["KREL"], kenvPath, err, out, srcrevFix)
	}
	name := kbuildModule(t)
	if _, err := os.Stat(filepath.Join(base, name+".ko")); err != nil {
		t.Fatalf("the module build at SRCREV %.12s made no %s.ko:\n%s", rev, name, out)
	}
	t.Logf("%s.ko at SRCREV %.12s built against %s", name, rev, k["KREL"])
}
