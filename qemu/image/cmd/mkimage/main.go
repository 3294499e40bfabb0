package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/mypoll/mypoll/qemu/image"
)

func main() {
	log := hclog.New(&hclog.LoggerOptions{Name: "mkimage", DisableTime: true})
	if err := run(log); err != nil {
		log.Error("image not built", "error", err)
		os.Exit(1)
	}
}

func run(log hclog.Logger) error {
	var (
		kenv    = flag.String("kernel-env", "out/kernel/kernel.env", "kernel.env written by `make kernel` (KREL, KMODDIR)")
		agent   = flag.String("agent", "", "static arm64 agent binary, installed as /init (required)")
		daemon  = flag.String("daemon", "", "mypolld binary, installed as /bin/mypolld")
		kmod    = flag.String("kmod", "", "mypoll.ko, installed as /lib/modules/mypoll.ko")
		bins    = flag.String("bins", "", "space-separated guest binaries, installed in /bin")
		modules = flag.String("modules", "virtio_pci,virtio_console", "comma-separated kernel modules to load at boot (dependencies are added)")
		outDir  = flag.String("o", "out/image", "output directory")
	)
	flag.Parse()
	if *agent == "" {
		return fmt.Errorf("-agent is required")
	}
	env, err := readEnv(*kenv)
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := image.NewResolver(env["KMODDIR"], env["KREL"])
	if err != nil {
		return err
	}
	var want []string
	for m := range strings.SplitSeq(*modules, ",") {
		if m = strings.TrimSpace(m); m != "" {
			want = append(want, m)
		}
	}
	if *kmod != "" {
		// mypoll.ko must match the kernel too, and its dependencies
		// (if any) are loaded before it.
		name, err := r.Add(*kmod)
		if err != nil {
			return err
		}
		deps, err := r.Resolve(name)
		if err != nil {
			return err
		}
		for _, d := range deps[:len(deps)-1] {
			want = append(want, d.Name)
		}
	}
	mods, err := r.Resolve(want...)
	if err != nil {
		return err
	}
	spec := image.Spec{
		Release: env["KREL"],
		Agent:   *agent,
		Daemon:  *daemon,
		KMod:    *kmod,
		Modules: mods,
		Bins:    strings.Fields(*bins),
	}
	path, reused, err := spec.Build(*outDir)
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("stat image: %w", err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	log.Info("image ready", "path", path, "reused", reused, "bytes", fi.Size(),
		"modules", strings.Join(names, " "), "daemon", *daemon != "", "kmod", *kmod != "",
		"bins", len(spec.Bins), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// readEnv reads KEY=value lines.
func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kernel env (run 'make kernel'): %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kernel env: %w", err)
	}
	for _, k := range []string{"KREL", "KMODDIR"} {
		if env[k] == "" {
			return nil, fmt.Errorf("kernel env %s: no %s", path, k)
		}
	}
	return env, nil
}
