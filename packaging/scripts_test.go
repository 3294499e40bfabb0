package packaging_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// scriptRef is a repository file that a defconfig, a Buildroot package or a
// Yocto recipe names.
type scriptRef struct {
	path string // relative to the repository root
	who  string // where it is named
	kind refKind
}

type refKind int

const (
	named     refKind = iota // any other mention
	run                      // run directly by Buildroot (post-build/fakeroot/image script)
	installed                // installed as a program with an explicit mode 0755
)

var (
	// Defconfig symbols whose values are scripts Buildroot runs.
	brScriptSyms = regexp.MustCompile(`(?m)^BR2_ROOTFS_POST_(?:BUILD|FAKEROOT|IMAGE)_SCRIPT="([^"]*)"`)
	// $(VAR)/path or ${VAR}/path in a .mk file or a recipe.
	varPath = regexp.MustCompile(`[$][({]([A-Za-z0-9_@]+)[)}]/([A-Za-z0-9_.+/-]+)`)
	// An install command with an executable mode.
	execInstall = regexp.MustCompile(`(?:^|\s)-m\s*0?755\s`)
)

// brScriptRefs returns the repository files the defconfigs run as scripts.
func brScriptRefs(t *testing.T) []scriptRef {
	t.Helper()
	defs, _ := filepath.Glob(filepath.Join(root, "br2-external/configs/*_defconfig"))
	var refs []scriptRef
	for _, d := range defs {
		name := filepath.Base(d)
		for _, m := range brScriptSyms.FindAllStringSubmatch(read(t, "br2-external/configs/"+name), -1) {
			for _, f := range strings.Fields(m[1]) {
				if rel, ok := strings.CutPrefix(f, "$(BR2_EXTERNAL_MYPOLL_PATH)/"); ok {
					refs = append(refs, scriptRef{filepath.Join("br2-external", rel), name, run})
				}
			}
		}
	}
	return refs
}

// mkBase maps the directory variables of a Buildroot package (its source
// dir $(@D) and the <PKG>_*_DIR variables) to repository directories.
func mkBase(vars map[string]string, prefix string) map[string]string {
	repo := func(v string) (string, bool) {
		rel, ok := strings.CutPrefix(v, "$(BR2_EXTERNAL_MYPOLL_PATH)/")
		if !ok {
			return "", false
		}
		return filepath.Clean(filepath.Join("br2-external", rel)), true
	}
	base := map[string]string{"BR2_EXTERNAL_MYPOLL_PATH": "br2-external"}
	if d, ok := repo(vars[prefix+"_SITE"]); ok && vars[prefix+"_SITE_METHOD"] == "local" {
		base["@D"] = d
	}
	for k, v := range vars {
		if strings.HasPrefix(k, prefix+"_") && strings.HasSuffix(k, "_DIR") {
			if d, ok := repo(v); ok {
				base[k] = d
			}
		}
	}
	return base
}

// pathRefs returns the repository files that text names through the
// directory variables of base; the first file on a line (or continued line)
// that installs with mode 0755 is marked installed.
func pathRefs(text string, base map[string]string, who string) []scriptRef {
	var refs []scriptRef
	text = strings.ReplaceAll(text, "\\\n", " ")
	for line := range strings.Lines(text) {
		isExec := execInstall.MatchString(line)
		for i, m := range varPath.FindAllStringSubmatch(line, -1) {
			dir, ok := base[m[1]]
			if !ok {
				continue
			}
			p := filepath.Join(dir, m[2])
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				continue // a build output or an install destination
			}
			// Only the source of an install line is installed as a program.
			kind := named
			if isExec && i == 0 {
				kind = installed
			}
			refs = append(refs, scriptRef{p, who, kind})
		}
	}
	return refs
}

// yoctoBase maps the recipe variables that point into the checkout
// (${S}/src/${GO_IMPORT}[/dir], e.g. MYPOLL_INIT) to repository directories.
func yoctoBase(vars map[string]string) map[string]string {
	base := map[string]string{}
	for k, v := range vars {
		if rel, ok := strings.CutPrefix(v, "${S}/src/${GO_IMPORT}"); ok && !strings.Contains(k, ":") {
			base[k] = filepath.Clean("." + rel)
		}
	}
	return base
}

// scriptRefs collects every repository file the defconfigs, the Buildroot
// packages and the Yocto recipes name.
func scriptRefs(t *testing.T) []scriptRef {
	t.Helper()
	refs := brScriptRefs(t)
	mks, _ := filepath.Glob(filepath.Join(root, "br2-external/package/*/*.mk"))
	for _, mk := range mks {
		rel, _ := filepath.Rel(root, mk)
		pkg := filepath.Base(filepath.Dir(mk))
		prefix := strings.ToUpper(strings.ReplaceAll(pkg, "-", "_"))
		refs = append(refs, pathRefs(read(t, rel), mkBase(mkVars(t, rel), prefix), rel)...)
	}
	var recipes []string
	for _, pat := range []string{"*/*/*.bb", "*/*/*.bbappend", "*/*/*.inc", "*/*/*/*.bb", "*/*/*/*.inc"} {
		m, _ := filepath.Glob(filepath.Join(root, "meta-mypoll", pat))
		recipes = append(recipes, m...)
	}
	slices.Sort(recipes)
	for _, r := range slices.Compact(recipes) {
		rel, _ := filepath.Rel(root, r)
		vars := bbVars(t, rel)
		// The shared include defines MYPOLL_INIT for every Go recipe.
		if strings.Contains(vars["BBFILE:"+rel], "${MYPOLL_INIT}") {
			for k, v := range bbVars(t, "meta-mypoll/recipes-mypoll/include/mypoll-go.inc") {
				if _, ok := vars[k]; !ok {
					vars[k] = v
				}
			}
		}
		refs = append(refs, pathRefs(vars["BBFILE:"+rel], yoctoBase(vars), rel)...)
	}
	return refs
}

// gitModes returns the git index mode of each tracked file under dirs.
func gitModes(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"ls-files", "-s", "--"}, dirs...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files -s (the modes Buildroot and Yocto get are the ones in git): %v", err)
	}
	modes := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		// "<mode> <object> <stage>\t<path>"
		meta, path, ok := strings.Cut(sc.Text(), "\t")
		if f := strings.Fields(meta); ok && len(f) == 3 {
			modes[path] = f[0]
		}
	}
	return modes
}

func hasShebang(t *testing.T, rel string) bool {
	t.Helper()
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		t.Fatalf("open %s: %v", rel, err)
	}
	defer f.Close()
	b := make([]byte, 2)
	n, _ := f.Read(b)
	return n == 2 && string(b) == "#!"
}

// TestScripts_ExecutableInGit: the scripts the trees use have the git mode
// their use needs. A script Buildroot runs directly (BR2_ROOTFS_POST_*_SCRIPT)
// must be 100755: a 100644 post-image.sh fails target-post-image with
// "Permission denied" (Error 126). A SysV or other script that a package or
// recipe installs with an explicit mode 0755 must be 100644, as Buildroot's
// check-package demands ("This file does not need to be executable, just
// make sure you use '$(INSTALL) -D -m 0755'"). Any other #! file in
// br2-external/, meta-mypoll/ or init/ (a helper another script calls) must
// be 100755. Each must start with #!.
func TestScripts_ExecutableInGit(t *testing.T) {
	modes := gitModes(t, "br2-external", "meta-mypoll", "init")
	refs := scriptRefs(t)
	// The reference parser must see at least the scripts that exist today;
	// a new one is found the same way.
	for want, kind := range map[string]refKind{
		"br2-external/board/qemu-aarch64-virt/post-image.sh": run,
		"init/sysv/S50mypolld":                               installed,
		"init/sysv/S99mypoll-testagent":                      installed,
	} {
		if !slices.ContainsFunc(refs, func(r scriptRef) bool { return r.path == want && r.kind == kind }) {
			t.Errorf("no defconfig, package or recipe runs or installs %s (parser or tree broken)", want)
		}
	}
	kinds := map[string]refKind{}
	who := map[string]string{}
	for _, r := range refs {
		if r.kind == named && !hasShebang(t, r.path) {
			continue
		}
		if k, ok := kinds[r.path]; ok && k != r.kind && k != named && r.kind != named {
			t.Errorf("%s is both run directly (%s) and installed with mode 0755 (%s)", r.path, who[r.path], r.who)
		}
		if r.kind >= kinds[r.path] {
			kinds[r.path], who[r.path] = r.kind, r.who
		}
	}
	// Helper scripts that nothing above names (called by another script).
	for path := range modes {
		if _, ok := kinds[path]; !ok && hasShebang(t, path) {
			kinds[path], who[path] = named, "a #! file in "+strings.SplitN(path, "/", 2)[0]+"/"
		}
	}
	for path, kind := range kinds {
		mode, ok := modes[path]
		want := "100755"
		if kind == installed {
			want = "100644"
		}
		switch {
		case !ok:
			t.Errorf("%s (named by %s) is not tracked by git", path, who[path])
		case !hasShebang(t, path):
			t.Errorf("%s (run or installed as a program by %s) has no #! line", path, who[path])
		case mode != want && kind == installed:
			t.Errorf("%s is installed with mode 0755 by %s but has git mode %s: Buildroot's check-package wants %s (git update-index --chmod=-x %s)", path, who[path], mode, want, path)
		case mode != want:
			t.Errorf("%s (%s) has git mode %s, want %s: git update-index --chmod=+x %s", path, who[path], mode, want, path)
		}
	}
	if len(kinds) < 3 {
		t.Errorf("checked only %d scripts: %v", len(kinds), kinds)
	}
}

// defconfigSyms returns the symbols a defconfig sets to y.
func defconfigSyms(text string) map[string]bool {
	syms := map[string]bool{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && v == "y" {
			syms[k] = true
		}
	}
	return syms
}

// runPostImage runs script the way Buildroot does (executed directly, the
// images dir as $1, BR2_CONFIG/BINARIES_DIR/HOST_DIR in the environment)
// for a configuration saved under an arbitrary defconfig name.
func runPostImage(t *testing.T, script, config string, images []string) (dir string, out []byte, err error) {
	t.Helper()
	dir = t.TempDir()
	bin := filepath.Join(dir, "images")
	host := filepath.Join(dir, "host")
	for _, d := range []string{bin, filepath.Join(host, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range images {
		if err := os.WriteFile(filepath.Join(bin, f), []byte("image"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not the name of any defconfig in the tree: a user's derived config.
	defconfig := filepath.Join(dir, "acme_widget_rev2_defconfig")
	cfg := filepath.Join(dir, ".config")
	for _, f := range []string{defconfig, cfg} {
		if err := os.WriteFile(f, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	abs, err := filepath.Abs(filepath.Join(root, script))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(abs, bin, defconfig)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BR2_CONFIG="+cfg, "BINARIES_DIR="+bin,
		"HOST_DIR="+host, "BR2_DEFCONFIG="+defconfig,
		"BR2_EXTERNAL_MYPOLL_PATH="+filepath.Join(filepath.Dir(abs), "../.."))
	out, err = cmd.CombinedOutput()
	return dir, out, err
}

// TestBuildroot_PostImage: for each defconfig, the post-image script it names
// runs for a copy of that configuration under another name, and writes a
// start-qemu.sh that boots the root filesystem the configuration builds:
// checked by running start-qemu.sh with a stand-in qemu that prints its
// directory and arguments. The command line is the one readme.txt shows.
func TestBuildroot_PostImage(t *testing.T) {
	readme := read(t, "br2-external/board/qemu-aarch64-virt/readme.txt")
	var readmeLines []string
	for line := range strings.Lines(readme) {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "qemu-system-aarch64 ") {
			readmeLines = append(readmeLines, strings.ReplaceAll(line, "output/images/", ""))
		}
	}
	defs, _ := filepath.Glob(filepath.Join(root, "br2-external/configs/*_defconfig"))
	if len(defs) < 2 {
		t.Errorf("want the systemd and the minimal defconfig, found %d", len(defs))
	}
	kinds := map[string]bool{}
	for _, d := range defs {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			text := read(t, "br2-external/configs/"+name)
			m := regexp.MustCompile(`(?m)^BR2_ROOTFS_POST_IMAGE_SCRIPT="\$\(BR2_EXTERNAL_MYPOLL_PATH\)/([^" ]+)"`).FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("%s names no post-image script of the external tree", name)
			}
			script := filepath.Join("br2-external", m[1])
			syms := defconfigSyms(text)
			var images []string
			var want []string
			switch {
			case syms["BR2_TARGET_ROOTFS_EXT2"]:
				images = []string{"Image", "rootfs.ext2", "rootfs.ext4"}
				want = []string{"-drive", "file=rootfs.ext4,if=none,format=raw,id=hd0"}
				kinds["ext4"] = true
			case syms["BR2_TARGET_ROOTFS_CPIO"]:
				// A stale disk image of an earlier configuration must not win.
				images = []string{"Image", "rootfs.cpio", "rootfs.ext4"}
				want = []string{"-initrd", "rootfs.cpio"}
				kinds["cpio"] = true
			default:
				t.Fatalf("%s builds neither an ext2/4 nor a cpio root filesystem", name)
			}
			dir, out, err := runPostImage(t, script, text, images)
			if err != nil {
				t.Fatalf("%s for a copy of %s: %v\n%s", script, name, err, out)
			}
			start := filepath.Join(dir, "images", "start-qemu.sh")
			st, err := os.Stat(start)
			if err != nil {
				t.Fatalf("no start-qemu.sh: %v\n%s", err, out)
			}
			if st.Mode()&0o111 == 0 {
				t.Errorf("start-qemu.sh has mode %v, want executable", st.Mode())
			}
			// A stand-in qemu in HOST_DIR/bin prints where it runs and its
			// arguments, one per line.
			fake := filepath.Join(dir, "host", "bin", "qemu-system-aarch64")
			if err := os.WriteFile(fake, []byte("#!/bin/sh\npwd\nfor a; do printf '%s\\n' \"$a\"; done\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			run := exec.Command(start, "-snapshot")
			run.Dir = dir
			got, err := run.Output()
			if err != nil {
				t.Fatalf("start-qemu.sh: %v", err)
			}
			args := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
			if args[0] != filepath.Join(dir, "images") {
				t.Errorf("qemu runs in %s, want the images dir", args[0])
			}
			args = args[1:]
			for _, w := range [][]string{{"-M", "virt"}, {"-kernel", "Image"}, want,
				{"-device", "virtserialport,chardev=mypolltest,name=mypoll.test"}} {
				if !hasPair(args, w[0], w[1]) {
					t.Errorf("qemu arguments lack %q: %q", w, args)
				}
			}
			if args[len(args)-1] != "-snapshot" {
				t.Errorf("extra arguments not passed last: %q", args)
			}
			if slices.Contains(args, "-initrd") == slices.Contains(args, "-drive") {
				t.Errorf("want exactly one of -initrd and -drive: %q", args)
			}
			// The readme documents the same line.
			gen, err := os.ReadFile(start)
			if err != nil {
				t.Fatal(err)
			}
			line := regexp.MustCompile(`(?m)^exec (.*) "\$@"$`).FindStringSubmatch(string(gen))
			if line == nil {
				t.Fatalf("start-qemu.sh has no exec line")
			}
			if !slices.Contains(readmeLines, line[1]) {
				t.Errorf("readme.txt does not show the command line of %s:\n%s", name, line[1])
			}
		})
	}
	if !kinds["cpio"] || !kinds["ext4"] {
		t.Errorf("want one defconfig with an ext4 and one with a cpio root filesystem, got %v", kinds)
	}

	// Without a root filesystem image the script fails and writes nothing.
	defs0 := read(t, "br2-external/configs/"+filepath.Base(defs[0]))
	m := regexp.MustCompile(`(?m)^BR2_ROOTFS_POST_IMAGE_SCRIPT="\$\(BR2_EXTERNAL_MYPOLL_PATH\)/([^" ]+)"`).FindStringSubmatch(defs0)
	if m == nil {
		t.Fatal("no post-image script")
	}
	dir, out, err := runPostImage(t, filepath.Join("br2-external", m[1]), defs0, []string{"Image"})
	if err == nil {
		t.Errorf("post-image without a rootfs image succeeded:\n%s", out)
	} else if !strings.Contains(string(out), "no rootfs") {
		t.Errorf("post-image without a rootfs image: unclear error %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "images", "start-qemu.sh")); err == nil {
		t.Errorf("post-image wrote start-qemu.sh without a rootfs image")
	}
}

// hasPair reports whether args holds opt immediately followed by val.
func hasPair(args []string, opt, val string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == opt && args[i+1] == val {
			return true
		}
	}
	return false
}
