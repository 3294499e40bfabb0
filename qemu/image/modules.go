package image

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Sentinel errors of the resolver; callers branch with errors.Is.
var (
	// ErrVermagic: a module was built for another kernel release.
	ErrVermagic = errors.New("vermagic mismatch")
	// ErrNoModule: a wanted module or a dependency is not in the tree.
	ErrNoModule = errors.New("module not found")
	// ErrCycle: the depends= fields form a cycle.
	ErrCycle = errors.New("dependency cycle")
)

// Modinfo is what the resolver reads from a module's .modinfo section.
type Modinfo struct {
	Name     string
	Depends  []string
	Vermagic string
}

// Module is a resolved module: its name, host path and dependencies.
type Module struct {
	Modinfo
	Path string
}

// ReadModinfo parses the .modinfo section (NUL-separated key=value strings)
// of the ELF file at path. Compressed modules (.ko.xz, ...) are not supported.
func ReadModinfo(path string) (Modinfo, error) {
	f, err := elf.Open(path)
	if err != nil {
		return Modinfo{}, fmt.Errorf("read module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return Modinfo{}, fmt.Errorf("read module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return Modinfo{}, fmt.Errorf("read module %s: %w", path, err)
	}
	var mi Modinfo
	for kv := range bytes.SplitSeq(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			mi.Name = v
		case "vermagic":
			mi.Vermagic = v
		case "depends":
			for d := range strings.SplitSeq(v, ",") {
				if d != "" {
					mi.Depends = append(mi.Depends, modName(d))
				}
			}
		}
	}
	if mi.Name == "" {
		mi.Name = modName(strings.TrimSuffix(filepath.Base(path), ".ko"))
	}
	return mi, nil
}

// modName normalises a module name as the kernel does ('-' and '_' are equal).
func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// Resolver finds modules in a modules tree (lib/modules/<release>) and orders
// them so that every module comes after its dependencies.
type Resolver struct {
	release string
	index   map[string]string // name -> path
	extra   map[string]string // name -> path, modules outside the tree
	builtin map[string]bool   // modules.builtin: nothing to load
	cache   map[string]Modinfo
}

// NewResolver indexes every *.ko under moddir (a lib/modules/<release>
// directory; may be empty for modules given only through Add) and the
// modules built into the kernel (moddir/modules.builtin: Debian's 6.12 and
// 7.x kernels build virtio_pci and virtio_console in). release is the kernel
// release each module's vermagic must start with.
func NewResolver(moddir, release string) (*Resolver, error) {
	r := &Resolver{release: release, index: map[string]string{}, extra: map[string]string{},
		builtin: map[string]bool{}, cache: map[string]Modinfo{}}
	if moddir == "" {
		return r, nil
	}
	if b, err := os.ReadFile(filepath.Join(moddir, "modules.builtin")); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				r.builtin[modName(strings.TrimSuffix(filepath.Base(l), ".ko"))] = true
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	err := filepath.WalkDir(moddir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			r.index[modName(strings.TrimSuffix(d.Name(), ".ko"))] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules: %w", err)
	}
	return r, nil
}

// Add makes a module outside the tree (mypoll.ko) resolvable by its name and
// returns that name.
func (r *Resolver) Add(path string) (string, error) {
	mi, err := r.modinfo(path)
	if err != nil {
		return "", err
	}
	r.extra[mi.Name] = path
	return mi.Name, nil
}

func (r *Resolver) modinfo(path string) (Modinfo, error) {
	if mi, ok := r.cache[path]; ok {
		return mi, nil
	}
	mi, err := ReadModinfo(path)
	if err != nil {
		return Modinfo{}, err
	}
	r.cache[path] = mi
	return mi, nil
}

// Resolve returns the named modules and all their dependencies, each after
// the modules it depends on (depth-first, in the order given). Modules built
// into the kernel are left out. It fails on a
// missing module (ErrNoModule), a module whose vermagic does not name the
// resolver's release (ErrVermagic), and on a cycle (ErrCycle).
func (r *Resolver) Resolve(names ...string) ([]Module, error) {
	var (
		out   []Module
		state = map[string]int{} // 1 visiting, 2 done
		visit func(name, from string) error
	)
	visit = func(name, from string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("%w at %s", ErrCycle, name)
		case 2:
			return nil
		}
		path, ok := r.extra[name]
		if !ok {
			path, ok = r.index[name]
		}
		if !ok && r.builtin[name] {
			state[name] = 2 // in the kernel image: nothing to load
			return nil
		}
		if !ok {
			if from != "" {
				return fmt.Errorf("%w: %s (needed by %s)", ErrNoModule, name, from)
			}
			return fmt.Errorf("%w: %s", ErrNoModule, name)
		}
		mi, err := r.modinfo(path)
		if err != nil {
			return err
		}
		if r.release != "" && !strings.HasPrefix(mi.Vermagic, r.release+" ") {
			return fmt.Errorf("%w: %s has vermagic %q, kernel is %s", ErrVermagic, path, mi.Vermagic, r.release)
		}
		state[name] = 1
		for _, d := range mi.Depends {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, Module{Modinfo: mi, Path: path})
		return nil
	}
	for _, n := range names {
		if err := visit(modName(n), ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Names returns the sorted names of every indexed module (for messages).
func (r *Resolver) Names() []string {
	names := make([]string, 0, len(r.index))
	for n := range r.index {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// statFile reports whether path names a regular file.
func statFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
