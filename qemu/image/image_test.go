package image_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu/image"
	"github.com/u-root/u-root/pkg/cpio"
)

const rel = "6.1.0-99-arm64"

// writeKO writes a minimal relocatable aarch64 ELF file whose only content
// is a .modinfo section holding the given key=value strings.
func writeKO(t *testing.T, path string, kv ...string) {
	t.Helper()
	modinfo := []byte(strings.Join(kv, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shsize = 64, 64
	modOff := uint64(ehsize)
	strOff := modOff + uint64(len(modinfo))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7

	var buf bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_AARCH64), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: ehsize, Shentsize: shsize, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	must(t, binary.Write(&buf, binary.LittleEndian, hdr))
	buf.Write(modinfo)
	buf.Write(shstr)
	buf.Write(make([]byte, int(shOff)-buf.Len()))
	secs := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Flags: uint64(elf.SHF_ALLOC), Off: modOff, Size: uint64(len(modinfo)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstr)), Addralign: 1},
	}
	must(t, binary.Write(&buf, binary.LittleEndian, secs))
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func vermagic(r string) string { return "vermagic=" + r + " SMP mod_unload modversions aarch64" }

// tree writes a modules tree: a depends on b and c, both depend on d.
func tree(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "lib/modules", rel)
	writeKO(t, filepath.Join(dir, "kernel/x/mod-a.ko"), "name=mod_a", "depends=mod_b,mod-c", vermagic(rel))
	writeKO(t, filepath.Join(dir, "kernel/y/mod_b.ko"), "name=mod_b", "depends=mod_d", vermagic(rel))
	writeKO(t, filepath.Join(dir, "kernel/y/mod-c.ko"), "name=mod_c", "depends=mod_d", vermagic(rel))
	writeKO(t, filepath.Join(dir, "kernel/z/mod_d.ko"), "name=mod_d", "depends=", vermagic(rel))
	writeKO(t, filepath.Join(dir, "kernel/z/lonely.ko"), "name=lonely", "depends=ghost", vermagic(rel))
	writeKO(t, filepath.Join(dir, "kernel/z/alien.ko"), "name=alien", "depends=", vermagic("6.1.0-1-amd64"))
	return dir
}

func names(ms []image.Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestReadModinfo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "virtio-pci.ko")
	writeKO(t, p, "license=GPL", "depends=virtio_pci_modern_dev,virtio-pci-legacy-dev", "name=virtio_pci", vermagic(rel))
	mi, err := image.ReadModinfo(p)
	if err != nil {
		t.Fatalf("ReadModinfo: %v", err)
	}
	want := []string{"virtio_pci_modern_dev", "virtio_pci_legacy_dev"}
	if mi.Name != "virtio_pci" || !slices.Equal(mi.Depends, want) || !strings.HasPrefix(mi.Vermagic, rel+" ") {
		t.Errorf("ReadModinfo = %+v, want name virtio_pci, depends %v, vermagic %s", mi, want, rel)
	}
}

func TestResolver_Resolve(t *testing.T) {
	r, err := image.NewResolver(tree(t), rel)
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	tests := []struct {
		name    string
		want    []string
		wantErr error
	}{
		{name: "mod-a", want: []string{"mod_d", "mod_b", "mod_c", "mod_a"}},
		{name: "mod_d", want: []string{"mod_d"}},
		{name: "lonely", wantErr: image.ErrNoModule},
		{name: "nothere", wantErr: image.ErrNoModule},
		{name: "alien", wantErr: image.ErrVermagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Resolve(tt.name)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Resolve(%q) error = %v, want %v", tt.name, err, tt.wantErr)
			}
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("Resolve(%q) = %v, want %v", tt.name, names(got), tt.want)
			}
		})
	}
	// The missing dependency is named together with who needs it.
	if _, err := r.Resolve("lonely"); err == nil || !strings.Contains(err.Error(), "ghost (needed by lonely)") {
		t.Errorf("Resolve(lonely) = %v, want it to name ghost and lonely", err)
	}
	// Several leaves share dependencies once, in first-need order.
	got, err := r.Resolve("mod_c", "mod_a")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mod_d", "mod_c", "mod_b", "mod_a"}; !slices.Equal(names(got), want) {
		t.Errorf("Resolve(mod_c, mod_a) = %v, want %v", names(got), want)
	}
}

// Modules built into the kernel (modules.builtin, as Debian's 6.12 and 7.x
// have virtio_pci and virtio_console) are satisfied without a file; a name
// neither built in nor in the tree is still an error.
func TestResolver_Builtin(t *testing.T) {
	dir := tree(t)
	must(t, os.WriteFile(filepath.Join(dir, "modules.builtin"),
		[]byte("kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/char/virtio_console.ko\n"), 0o644))
	writeKO(t, filepath.Join(dir, "kernel/z/user.ko"), "name=user", "depends=virtio_pci,mod_d", vermagic(rel))
	r, err := image.NewResolver(dir, rel)
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	got, err := r.Resolve("virtio_pci", "virtio-console", "user")
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if want := []string{"mod_d", "user"}; !slices.Equal(names(got), want) {
		t.Errorf("Resolve = %v, want %v", names(got), want)
	}
	if _, err := r.Resolve("virtio_blk"); !errors.Is(err, image.ErrNoModule) {
		t.Errorf("Resolve(virtio_blk) error = %v, want ErrNoModule", err)
	}
}

func TestResolver_CycleAndAdd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mods")
	writeKO(t, filepath.Join(dir, "p.ko"), "name=p", "depends=q", vermagic(rel))
	writeKO(t, filepath.Join(dir, "q.ko"), "name=q", "depends=p", vermagic(rel))
	writeKO(t, filepath.Join(dir, "base.ko"), "name=base", "depends=", vermagic(rel))
	r, err := image.NewResolver(dir, rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve("p"); !errors.Is(err, image.ErrCycle) {
		t.Errorf("Resolve(p) = %v, want ErrCycle", err)
	}

	// An out-of-tree module (mypoll.ko) resolves against the tree.
	ext := filepath.Join(t.TempDir(), "mypoll.ko")
	writeKO(t, ext, "name=mypoll", "depends=base", vermagic(rel))
	name, err := r.Add(ext)
	if err != nil || name != "mypoll" {
		t.Fatalf("Add = %q, %v; want mypoll", name, err)
	}
	got, err := r.Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"base", "mypoll"}; !slices.Equal(names(got), want) {
		t.Errorf("Resolve(mypoll) = %v, want %v", names(got), want)
	}

	// A module built against other headers is caught before boot.
	bad := filepath.Join(t.TempDir(), "mypoll.ko")
	writeKO(t, bad, "name=mypoll", "depends=", vermagic("6.1.0-55-arm64"))
	r2, _ := image.NewResolver("", rel)
	n, err := r2.Add(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Resolve(n); !errors.Is(err, image.ErrVermagic) {
		t.Errorf("Resolve(mismatched mypoll) = %v, want ErrVermagic", err)
	}
}

func readImage(t *testing.T, path string) map[string]cpio.Record {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	rr, err := cpio.Newc.NewFileReader(f)
	must(t, err)
	recs, err := cpio.ReadAllRecords(rr)
	must(t, err)
	out := map[string]cpio.Record{}
	for _, r := range recs {
		out[r.Name] = r
	}
	return out
}

func content(t *testing.T, r cpio.Record) string {
	t.Helper()
	b := make([]byte, r.FileSize)
	if _, err := r.ReadAt(b, 0); err != nil && r.FileSize > 0 {
		t.Fatalf("read %s: %v", r.Name, err)
	}
	return string(b)
}

func TestSpec_Build(t *testing.T) {
	moddir := tree(t)
	r, err := image.NewResolver(moddir, rel)
	must(t, err)
	mods, err := r.Resolve("mod_a")
	must(t, err)
	in := t.TempDir()
	agent := filepath.Join(in, "agent")
	bin := filepath.Join(in, "mypoll-kmod.test")
	must(t, os.WriteFile(agent, []byte("agent v1"), 0o755))
	must(t, os.WriteFile(bin, []byte("test bin"), 0o755))
	spec := image.Spec{Release: rel, Agent: agent, Modules: mods, Bins: []string{bin}}

	dir := filepath.Join(t.TempDir(), "image")
	p1, reused, err := spec.Build(dir)
	if err != nil || reused {
		t.Fatalf("Build = %s, %v, %v; want a new image", p1, reused, err)
	}
	cur, err := image.Current(dir)
	if err != nil || cur != p1 {
		t.Errorf("Current = %q, %v; want %q", cur, err, p1)
	}
	recs := readImage(t, p1)
	if got := content(t, recs["init"]); got != "agent v1" || recs["init"].Mode&0o111 == 0 {
		t.Errorf("init = %q mode %o, want the agent, executable", got, recs["init"].Mode)
	}
	if got := content(t, recs["bin/mypoll-kmod.test"]); got != "test bin" {
		t.Errorf("bin/mypoll-kmod.test = %q", got)
	}
	wantOrder := "/lib/modules/mod_d.ko\n/lib/modules/mod_b.ko\n/lib/modules/mod_c.ko\n/lib/modules/mod_a.ko\n"
	if got := content(t, recs[image.ModulesOrder]); got != wantOrder {
		t.Errorf("modules.order = %q, want %q", got, wantOrder)
	}
	if c := recs["dev/console"]; c.Mode&cpio.S_IFMT != cpio.S_IFCHR || c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("dev/console = %v, want char 5,1", c.Info)
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "etc/mypoll", "lib/modules"} {
		if recs[d].Mode&cpio.S_IFMT != cpio.S_IFDIR {
			t.Errorf("%s missing or not a directory", d)
		}
	}
	// The daemon's user and the groups of a board (DESIGN.md §12).
	for f, want := range map[string]string{
		image.PasswdPath: fmt.Sprintf("mypoll:x:%d:%d:", image.DaemonUID, image.DaemonGID),
		image.GroupPath:  fmt.Sprintf("mypoll-ctl:x:%d:", image.ControlGID),
	} {
		if got := content(t, recs[f]); !strings.Contains(got, "\n"+want) || recs[f].Mode&0o777 != 0o644 {
			t.Errorf("%s = %q mode %o, want a line %q, mode 0644", f, got, recs[f].Mode&0o777, want)
		}
	}
	if !strings.Contains(content(t, recs[image.GroupPath]), fmt.Sprintf("\nmypoll:x:%d:", image.DaemonGID)) {
		t.Errorf("%s has no group mypoll", image.GroupPath)
	}
	if _, ok := recs[image.DaemonPath]; ok {
		t.Errorf("%s in the image without a daemon", image.DaemonPath)
	}

	// Same inputs: same name, reused. Changed input: new name.
	p2, reused, err := spec.Build(dir)
	if err != nil || !reused || p2 != p1 {
		t.Errorf("rebuild = %s, %v, %v; want %s reused", p2, reused, err, p1)
	}
	must(t, os.WriteFile(agent, []byte("agent v2"), 0o755))
	p3, reused, err := spec.Build(dir)
	if err != nil || reused || p3 == p1 {
		t.Errorf("build after change = %s, %v, %v; want a new name", p3, reused, err)
	}
	if cur, _ := image.Current(dir); cur != p3 {
		t.Errorf("Current = %s, want %s", cur, p3)
	}
}

func TestSpec_BinClash(t *testing.T) {
	in := t.TempDir()
	agent := filepath.Join(in, "agent")
	must(t, os.WriteFile(agent, []byte("a"), 0o755))
	must(t, os.MkdirAll(filepath.Join(in, "x"), 0o755))
	for _, p := range []string{filepath.Join(in, "t"), filepath.Join(in, "x", "t")} {
		must(t, os.WriteFile(p, []byte("b"), 0o755))
	}
	spec := image.Spec{Agent: agent, Bins: []string{filepath.Join(in, "t"), filepath.Join(in, "x", "t")}}
	if _, err := spec.Hash(); err == nil {
		t.Errorf("Hash with two bins named t succeeded, want an error")
	}
}

func TestSpec_BuildPrunes(t *testing.T) {
	in := t.TempDir()
	agent := filepath.Join(in, "agent")
	dir := filepath.Join(t.TempDir(), "image")
	var built []string
	for i := range image.KeepImages + 2 {
		must(t, os.WriteFile(agent, []byte{byte(i)}, 0o755))
		p, _, err := image.Spec{Agent: agent}.Build(dir)
		must(t, err)
		// Distinct mtimes without sleeping.
		old := time.Now().Add(time.Duration(i-100) * time.Minute)
		must(t, os.Chtimes(p, old, old))
		built = append(built, p)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.cpio"))
	if len(left) != image.KeepImages {
		t.Fatalf("%d images left, want %d: %v", len(left), image.KeepImages, left)
	}
	for _, p := range built[len(built)-image.KeepImages:] {
		if !slices.Contains(left, p) {
			t.Errorf("recent image %s was pruned", p)
		}
	}
}
