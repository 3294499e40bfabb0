package image

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/cpio"
)

// Paths inside the image that the agent relies on.
const (
	InitPath     = "init"
	DaemonPath   = "bin/mypolld"
	KModPath     = "lib/modules/mypoll.ko"
	ModulesOrder = "etc/mypoll/modules.order"
	ModulesDir   = "lib/modules"
	BinDir       = "bin"
	// CurrentFile, in the image directory, names the newest image.
	CurrentFile = "current"
	// PasswdPath and GroupPath hold the users and groups a board's build
	// trees create (DESIGN.md §12): the agent starts mypolld as user mypoll
	// and gives /dev/mypoll to group mypoll; mypoll-ctl may control.
	PasswdPath = "etc/passwd"
	GroupPath  = "etc/group"
)

// The ids of the image's users and groups (system ids, as useradd
// --system picks them on a board; the tests look them up by name).
const (
	DaemonUID  = 990
	DaemonGID  = 990
	ControlGID = 991
)

var (
	passwd = fmt.Sprintf("root:x:0:0:root:/root:/bin/sh\n"+
		"mypoll:x:%d:%d:mypoll daemon:/nonexistent:/bin/false\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", DaemonUID, DaemonGID)
	group = fmt.Sprintf("root:x:0:\n"+
		"mypoll:x:%d:\n"+
		"mypoll-ctl:x:%d:\n"+
		"nogroup:x:65534:\n", DaemonGID, ControlGID)
)

// format is mixed into the hash so a change in the layout renames images.
const format = "mypoll-initramfs-v2"

// Spec lists what goes into an image. Host paths; optional ones may be "".
type Spec struct {
	// Release is the kernel release the modules were resolved for.
	Release string
	// Agent is the static arm64 agent, installed as /init.
	Agent string
	// Daemon is mypolld, installed as /bin/mypolld when set.
	Daemon string
	// KMod is mypoll.ko, installed as /lib/modules/mypoll.ko when set; the
	// agent loads it after Modules.
	KMod string
	// Modules are loaded by the agent in this order (dependencies first):
	// installed as /lib/modules/<name>.ko and listed in etc/mypoll/modules.order.
	Modules []Module
	// Bins are extra guest programs, installed as /bin/<base name>.
	Bins []string
}

// entry is one file of the image, read into memory.
type entry struct {
	name string // path inside the image, no leading slash
	mode uint64 // permission bits
	data []byte
}

var dirs = []struct {
	name string
	mode uint64
}{
	{"bin", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"etc/mypoll", 0o755},
	{"lib", 0o755}, {"lib/modules", 0o755}, {"proc", 0o555}, {"root", 0o700},
	{"run", 0o755}, {"sys", 0o555}, {"tmp", 0o1777},
}

func (s Spec) entries() ([]entry, error) {
	if s.Agent == "" {
		return nil, fmt.Errorf("no agent binary")
	}
	var es []entry
	add := func(name, src string, mode uint64) error {
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("read image input: %w", err)
		}
		es = append(es, entry{name: name, mode: mode, data: data})
		return nil
	}
	if err := add(InitPath, s.Agent, 0o755); err != nil {
		return nil, err
	}
	if s.Daemon != "" {
		if err := add(DaemonPath, s.Daemon, 0o755); err != nil {
			return nil, err
		}
	}
	var order strings.Builder
	seen := map[string]bool{}
	for _, m := range s.Modules {
		name := path.Join(ModulesDir, m.Name+".ko")
		if seen[name] {
			continue
		}
		seen[name] = true
		if err := add(name, m.Path, 0o644); err != nil {
			return nil, err
		}
		order.WriteString("/" + name + "\n")
	}
	es = append(es, entry{name: ModulesOrder, mode: 0o644, data: []byte(order.String())},
		entry{name: PasswdPath, mode: 0o644, data: []byte(passwd)},
		entry{name: GroupPath, mode: 0o644, data: []byte(group)})
	if s.KMod != "" {
		if err := add(KModPath, s.KMod, 0o644); err != nil {
			return nil, err
		}
	}
	for _, b := range s.Bins {
		name := path.Join(BinDir, filepath.Base(b))
		if seen[name] || name == DaemonPath {
			return nil, fmt.Errorf("guest binary %s: %s is already in the image", b, name)
		}
		seen[name] = true
		if err := add(name, b, 0o755); err != nil {
			return nil, err
		}
	}
	return es, nil
}

func hashEntries(release string, es []entry) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", format, release)
	for _, e := range es {
		sum := sha256.Sum256(e.data)
		fmt.Fprintf(h, "%s\x00%o\x00%x\x00", e.name, e.mode, sum)
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// Hash returns the content hash of the image s describes (the image's base
// name without ".cpio"). It reads every input.
func (s Spec) Hash() (string, error) {
	es, err := s.entries()
	if err != nil {
		return "", err
	}
	return hashEntries(s.Release, es), nil
}

// Write writes the image as a newc cpio archive with reproducible metadata.
func (s Spec) Write(w io.Writer) error {
	es, err := s.entries()
	if err != nil {
		return err
	}
	return writeEntries(w, es)
}

func writeEntries(w io.Writer, es []entry) error {
	recs := make([]cpio.Record, 0, len(dirs)+len(es)+2)
	for _, d := range dirs {
		recs = append(recs, cpio.Directory(d.name, d.mode))
	}
	recs = append(recs,
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
	)
	for _, e := range es {
		recs = append(recs, cpio.StaticRecord(e.data, cpio.Info{Name: e.name, Mode: cpio.S_IFREG | e.mode}))
	}
	cpio.MakeAllReproducible(recs)
	bw := bufio.NewWriterSize(w, 1<<20)
	rw := cpio.NewDedupWriter(cpio.Newc.Writer(bw))
	if err := cpio.WriteRecords(rw, recs); err != nil {
		return fmt.Errorf("write cpio: %w", err)
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("write cpio: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write cpio: %w", err)
	}
	return nil
}

// Build writes dir/<hash>.cpio unless it already exists, points
// dir/current at it, and returns its path and whether it was reused.
func (s Spec) Build(dir string) (string, bool, error) {
	es, err := s.entries()
	if err != nil {
		return "", false, err
	}
	name := hashEntries(s.Release, es) + ".cpio"
	out := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("build image: %w", err)
	}
	reused := statFile(out)
	if reused {
		now := time.Now()
		_ = os.Chtimes(out, now, now) // most recently used: pruned last
	} else {
		if err := writeFileAtomic(out, func(w io.Writer) error { return writeEntries(w, es) }); err != nil {
			return "", false, fmt.Errorf("build image: %w", err)
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, CurrentFile), func(w io.Writer) error {
		_, err := io.WriteString(w, name+"\n")
		return err
	}); err != nil {
		return "", false, fmt.Errorf("build image: %w", err)
	}
	prune(dir, out, KeepImages)
	return out, reused, nil
}

// KeepImages is how many images Build keeps in its directory (the most
// recently built or reused ones, so parallel users of a recent image keep
// it).
const KeepImages = 4

// prune removes all but the keep most recent *.cpio in dir, never current.
func prune(dir, current string, keep int) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.cpio"))
	type img struct {
		path string
		mod  time.Time
	}
	var imgs []img
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && p != current {
			imgs = append(imgs, img{p, fi.ModTime()})
		}
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].mod.After(imgs[j].mod) })
	for i, im := range imgs {
		if i >= keep-1 {
			_ = os.Remove(im.path)
		}
	}
}

func writeFileAtomic(name string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// Current returns the path of the image dir/current names.
func Current(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, CurrentFile))
	if err != nil {
		return "", fmt.Errorf("current image: %w", err)
	}
	name := strings.TrimSpace(string(b))
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("current image: bad name %q in %s", name, filepath.Join(dir, CurrentFile))
	}
	return filepath.Join(dir, name), nil
}
