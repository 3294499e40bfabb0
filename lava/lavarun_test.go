package lava_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dispatcherTmp is where lava-run works (lava_dispatcher's
// DISPATCHER_DOWNLOAD_DIR), one directory per job id.
const dispatcherTmp = "/var/lib/lava/dispatcher/tmp"

// lavaResult is the "msg" of a results line of lava-run's log.
type lavaResult struct {
	Case       string `json:"case"`
	Definition string `json:"definition"`
	Result     string `json:"result"`
}

// TestLavaRun_QemuJobs runs lava/jobs/qemu-virt.yaml (the LAVA image)
// and lava/jobs/qemu-virt-overlay.yaml (the test image, the shell put in by
// the job) with Debian's lava-dispatcher (lava-run) on the device
// lava/devices/qemu-local.yaml against the artifacts of make lava-image
// (MYPOLL_LAVA_ARTIFACTS, an absolute directory): LAVA boots the image
// under QEMU, adds its test shell to the ramdisk and runs the on-target
// tests; every case must pass. Without MYPOLL_LAVA_ARTIFACTS it skips,
// unless MYPOLL_REQUIRE_VM=1.
func TestLavaRun_QemuJobs(t *testing.T) {
	art := os.Getenv("MYPOLL_LAVA_ARTIFACTS")
	if art == "" {
		if os.Getenv("MYPOLL_REQUIRE_VM") == "1" {
			t.Fatal("MYPOLL_LAVA_ARTIFACTS is not set (make test-lava-run sets it)")
		}
		t.Skip("MYPOLL_LAVA_ARTIFACTS not set: run make test-lava-run")
	}
	if !filepath.IsAbs(art) {
		t.Fatalf("MYPOLL_LAVA_ARTIFACTS=%q: want an absolute path", art)
	}
	if _, err := exec.LookPath("lava-run"); err != nil {
		t.Fatalf("lava-run (Debian's lava-dispatcher) not found: %v", err)
	}
	for _, job := range []string{"jobs/qemu-virt.yaml", "jobs/qemu-virt-overlay.yaml"} {
		t.Run(filepath.Base(job), func(t *testing.T) { lavaRun(t, job, art) })
	}
}

func lavaRun(t *testing.T, jobPath, art string) {
	job, err := os.ReadFile(jobPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	jobFile := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(jobFile, bytes.ReplaceAll(job, []byte("@ARTIFACTS@"), []byte("file://"+art)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "lava-run", "--job-id", "mypoll-"+time.Now().Format("150405.000"),
		"--output-dir", filepath.Join(dir, "out"), "--device", "devices/qemu-local.yaml", jobFile)
	out, err := cmd.CombinedOutput()
	logPath := filepath.Join(t.ArtifactDir(), "lava-run.log")
	if werr := os.WriteFile(logPath, out, 0o644); werr != nil {
		t.Error(werr)
	}
	t.Logf("lava-run took %v; log: %s", time.Since(start).Round(time.Second), logPath)
	if err != nil {
		t.Errorf("lava-run: %v; last lines:\n%s", err, tail(out, 30))
	}

	results := map[string]map[string]string{} // definition -> case -> result
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"lvl": "results"`)) {
			continue
		}
		// The log is YAML in flow style, JSON but for the non-specific
		// tag LAVA puts on some strings: "endtc": ! "463".
		line = bytes.ReplaceAll(line, []byte(`: ! "`), []byte(`: "`))
		var rec struct {
			Msg lavaResult `json:"msg"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Errorf("results line %q: %v", line, err)
			continue
		}
		if results[rec.Msg.Definition] == nil {
			results[rec.Msg.Definition] = map[string]string{}
		}
		results[rec.Msg.Definition][rec.Msg.Case] = rec.Msg.Result
	}
	if got := results["lava"]["job"]; got != "pass" {
		t.Errorf("LAVA's job result = %q, want pass; last lines:\n%s", got, tail(out, 30))
	}
	target := results["0_mypoll-target"]
	for _, c := range []string{"kmod-loaded", "dev-node", "daemon-running", "daemon-user", "daemon-socket",
		"daemon-echo", "trigger-roundtrip", "conformance", "module-reload", "daemon-restart",
		"daemon-echo-after-restart", "kernel-log-clean"} {
		if got := target[c]; got != "pass" {
			t.Errorf("test case %s = %q, want pass", c, got)
		}
	}
	conformance := 0
	for c, r := range target {
		if strings.HasPrefix(c, "conformance.") {
			conformance++
		}
		if r != "pass" {
			t.Errorf("test case %s = %s", c, r)
		}
	}
	if conformance < 20 {
		t.Errorf("%d conformance cases reported, want the suite's (>= 20)", conformance)
	}
	t.Logf("%d mypoll-target cases, %d of them from the conformance suite", len(target), conformance)
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestDispatcher_Validates: LAVA's dispatcher (lava-run --validate) builds
// the whole pipeline of the qemu job and of the Raspberry Pi SD-mux job on
// their rendered device configurations (deploy, overlays, boot, test
// shell), checking device methods, connection commands and artifacts
// (empty stand-ins here: validation only checks they exist). The tftp job
// is not validated this way: the dispatcher wants a tftp server's
// configuration (/etc/default/tftpd-hpa) on the host.
func TestDispatcher_Validates(t *testing.T) {
	if _, err := exec.LookPath("lava-run"); err != nil {
		t.Fatalf("lava-run (Debian's lava-dispatcher) not found: %v", err)
	}
	art := t.TempDir()
	for _, f := range []string{"Image", "initrd.cpio.gz", "test-initrd.cpio.gz", "mypoll-lava-overlay.tar.gz",
		"board/rpi3/sdcard.img", "lava/mypoll-lava-overlay.tar.gz"} {
		p := filepath.Join(art, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("stand-in"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		job, device string
		pass        bool
	}{
		{"jobs/qemu-virt.yaml", "devices/qemu-local.yaml", true},
		{"jobs/qemu-virt-overlay.yaml", "devices/qemu-local.yaml", true},
		{"jobs/rpi3-sdmux.yaml", "devices/rpi3-01.yaml", true},
		// The proof that validation looks at the device: a Pi job on a
		// qemu device (no flasher deploy method) fails.
		{"jobs/rpi3-sdmux.yaml", "devices/qemu-local.yaml", false},
	} {
		t.Run(filepath.Base(c.job)+"@"+filepath.Base(c.device), func(t *testing.T) {
			job, err := os.ReadFile(c.job)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			jobFile := filepath.Join(dir, "job.yaml")
			if err := os.WriteFile(jobFile, bytes.ReplaceAll(job, []byte("@ARTIFACTS@"), []byte("file://"+art)), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			// lava-run --validate leaves the job's (empty) work directory.
			id := fmt.Sprintf("mypoll-validate-%d-%s", os.Getpid(), strings.TrimSuffix(filepath.Base(c.device), ".yaml"))
			t.Cleanup(func() { os.RemoveAll(filepath.Join(dispatcherTmp, id)) })
			out, err := exec.CommandContext(ctx, "lava-run", "--validate", "--job-id", id,
				"--output-dir", filepath.Join(dir, "out"), "--device", c.device, jobFile).CombinedOutput()
			passed := err == nil && bytes.Contains(out, []byte(`"msg": {"case": "job", "definition": "lava", "result": "pass"}`))
			if passed != c.pass {
				t.Errorf("lava-run --validate %s on %s: passed=%v (%v), want %v:\n%s", c.job, c.device, passed, err, c.pass, tail(out, 20))
			}
		})
	}
}
