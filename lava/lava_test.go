package lava_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// python is the system Python, which has Debian's lava-common (a Python
// from PATH may be another one, without it).
const python = "/usr/bin/python3"

const testdef = "tests/mypoll-target.yaml"

// validate runs validate.py KIND FILES... and returns its output and
// whether it exited 0; a missing lava-common fails the test (make
// test-lava installs it).
func validate(t *testing.T, kind string, files ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(python, append([]string{"validate.py", kind}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return string(out), false
		}
		t.Fatalf("validate.py %s: %v\n%s(lava-common missing? make deps installs it)", kind, err, out)
	}
	return string(out), true
}

func jobs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("jobs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no job definitions in lava/jobs: %v", err)
	}
	return files
}

func TestJobs_Validate(t *testing.T) {
	for _, f := range jobs(t) {
		if out, ok := validate(t, "job", f); !ok {
			t.Errorf("LAVA's schema rejects %s:\n%s", f, out)
		}
	}
}

func TestTestdef_Validates(t *testing.T) {
	if out, ok := validate(t, "testdef", testdef); !ok {
		t.Errorf("LAVA's schema rejects %s:\n%s", testdef, out)
	}
}

// The jobs carry the test definition inline (no git fetch in the lab):
// it must stay the file's.
func TestJobs_InlineTestdefIsTheFile(t *testing.T) {
	for _, f := range jobs(t) {
		if out, ok := validate(t, "inline", f, testdef); !ok {
			t.Errorf("%s", out)
		}
	}
}

func TestDevices_Validate(t *testing.T) {
	files, err := filepath.Glob("devices/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rendered device configuration in lava/devices: %v", err)
	}
	for _, f := range files {
		if out, ok := validate(t, "device", f); !ok {
			t.Errorf("LAVA's device schema rejects %s:\n%s", f, out)
		}
	}
}

// A broken copy of each job must fail, with the reason LAVA gives: proof
// that the check above checks something.
func TestJobs_BrokenCopiesFail(t *testing.T) {
	mutations := []struct {
		name, old, new, want string
	}{
		{"no visibility", "visibility: public\n", "", "visibility"},
		{"zero job timeout", "  job:\n    minutes: ", "  job:\n    minutes: 0#", "data['timeouts']['job']"},
		{"unknown job key", "priority: medium\n", "priority: medium\nbogus_key: 1\n", "extra keys not allowed"},
		{"testdef format", "format: Lava-Test Test Definition 1.0", "format: Lava-Test Test Definition 2.0", "format"},
		{"testdef name", "- name: mypoll-target\n", "- name: mypoll target\n", "name"},
		{"prompt empty", "- \"mypoll-lava# \"", "- \"\"", "prompts"},
	}
	for _, f := range jobs(t) {
		orig, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mutations {
			t.Run(filepath.Base(f)+"/"+m.name, func(t *testing.T) {
				if !strings.Contains(string(orig), m.old) {
					t.Fatalf("%s has no %q to break", f, m.old)
				}
				broken := filepath.Join(t.TempDir(), filepath.Base(f))
				if err := os.WriteFile(broken, []byte(strings.Replace(string(orig), m.old, m.new, 1)), 0o644); err != nil {
					t.Fatal(err)
				}
				out, ok := validate(t, "job", broken)
				if ok {
					t.Fatalf("the schema accepts %s with %s:\n%s", f, m.name, out)
				}
				if !strings.Contains(out, m.want) {
					t.Errorf("rejected for another reason than %s: want %q in\n%s", m.name, m.want, out)
				}
			})
		}
	}
	// Deploy and boot methods the device types do not have.
	for _, m := range []struct{ file, old, new, want string }{
		{"jobs/qemu-virt.yaml", "to: tmpfs", "to: tmpfss", "unknown action type"},
		{"jobs/qemu-virt.yaml", "method: qemu\n", "method: qemu\n    bogus: 1\n", "extra keys not allowed"},
		{"jobs/rpi3-sdmux.yaml", "format: tar", "format: zip", "format"},
		{"jobs/rpi3-tftp.yaml", "    commands: ramdisk\n", "", "required key not provided @ data['actions[1]']['boot']['u_boot']['commands']"},
	} {
		orig, err := os.ReadFile(m.file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(orig), m.old) {
			t.Fatalf("%s has no %q to break", m.file, m.old)
		}
		broken := filepath.Join(t.TempDir(), "broken.yaml")
		os.WriteFile(broken, []byte(strings.Replace(string(orig), m.old, m.new, 1)), 0o644)
		if out, ok := validate(t, "job", broken); ok || !strings.Contains(out, m.want) {
			t.Errorf("%s with %q -> %q: accepted=%v, want rejected for %q:\n%s", m.file, m.old, m.new, ok, m.want, out)
		}
	}
}

// The artifacts the jobs name are the ones make lava-image writes (and the
// board's SD image), under @ARTIFACTS@.
func TestJobs_ArtifactNames(t *testing.T) {
	want := map[string][]string{
		"jobs/qemu-virt.yaml":         {"@ARTIFACTS@/Image", "@ARTIFACTS@/initrd.cpio.gz"},
		"jobs/qemu-virt-overlay.yaml": {"@ARTIFACTS@/Image", "@ARTIFACTS@/test-initrd.cpio.gz", "@ARTIFACTS@/mypoll-lava-overlay.tar.gz"},
		"jobs/rpi3-tftp.yaml":         {"@ARTIFACTS@/Image", "@ARTIFACTS@/initrd.cpio.gz", "@ARTIFACTS@/bcm2837-rpi-3-b.dtb"},
		"jobs/rpi3-sdmux.yaml":        {"@ARTIFACTS@/board/rpi3/sdcard.img", "@ARTIFACTS@/lava/mypoll-lava-overlay.tar.gz"},
	}
	mk, err := os.ReadFile("../mk/lava.mk")
	if err != nil {
		t.Fatal(err)
	}
	for f, urls := range want {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range urls {
			if !strings.Contains(string(b), `"`+u+`"`) {
				t.Errorf("%s does not deploy %s", f, u)
			}
			name := filepath.Base(u)
			if name != "sdcard.img" && !strings.Contains(string(mk), name) {
				t.Errorf("mk/lava.mk does not make %s (deployed by %s)", name, f)
			}
		}
	}
}
