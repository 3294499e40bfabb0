package packaging_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const oeqaCases = "meta-mypoll/lib/oeqa/runtime/cases/mypoll.py"

// runOeqa runs the layer's oeqa runtime tests with testdata/oeqa_harness.py
// (stand-ins for oeqa's decorators and a target that answers like a board
// with the module loaded) for an image whose manifest lists pkgs. It
// returns test -> "pass" or "skip <reason>" or "fail ...", and the
// commands run on the target.
func runOeqa(t *testing.T, pkgs ...string) (map[string]string, []string) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 not found (make deps installs it)")
	}
	args := append([]string{"testdata/oeqa_harness.py", filepath.Join(root, oeqaCases)}, pkgs...)
	out, err := exec.Command("python3", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("oeqa harness: %v\n%s", err, out)
	}
	res := map[string]string{}
	var ran []string
	for line := range strings.Lines(string(out)) {
		name, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name == "ran" {
			ran = append(ran, rest)
		} else if name != "" {
			res[name] = rest
		}
	}
	return res, ran
}

// TestYocto_OeqaModuleTest: the runtime tests run when the image has the
// module. The image manifest names the module package
// kernel-module-mypoll-<kernel version> (kernel-module-mypoll is only an
// RPROVIDES alias, which OEHasPackage never matches), so the device test
// must run for that name and skip only when no such package is installed
// (issue 22, item 3).
func TestYocto_OeqaModuleTest(t *testing.T) {
	const kmodPkg = "kernel-module-mypoll-7.3.4+deb13-arm64"
	res, ran := runOeqa(t, kmodPkg, "mypolld", "mypoll-testagent")
	for _, name := range []string{"test_mypoll_device", "test_mypolld_running", "test_mypolld_user", "test_mypolld_echo"} {
		if res[name] != "pass" {
			t.Errorf("image with %s and mypolld: %s = %q, want pass", kmodPkg, name, res[name])
		}
	}
	joined := strings.Join(ran, "\n")
	for _, cmd := range []string{"lsmod", "test -c /dev/mypoll", "mypollctl echo oeqa-round-trip-42"} {
		if !strings.Contains(joined, cmd) {
			t.Errorf("image with the module: the target never ran %q (ran: %q)", cmd, ran)
		}
	}

	res, ran = runOeqa(t, "mypolld")
	if !strings.HasPrefix(res["test_mypoll_device"], "skip") || !strings.Contains(res["test_mypoll_device"], "kernel-module-mypoll") {
		t.Errorf("image without the module: test_mypoll_device = %q, want a skip naming kernel-module-mypoll", res["test_mypoll_device"])
	}
	for _, cmd := range ran {
		if cmd == "lsmod" {
			t.Errorf("image without the module: the device test still ran lsmod")
		}
	}
	if regexp.MustCompile(`(?m)^\s*@OEHasPackage\(\['kernel-module-mypoll'\]\)`).MatchString(read(t, oeqaCases)) {
		t.Errorf("%s still has @OEHasPackage(['kernel-module-mypoll'])", oeqaCases)
	}
}
