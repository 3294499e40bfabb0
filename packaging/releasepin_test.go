package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// releaseClone makes a full clone of this repository at HEAD in a
// temporary directory, with this tree's release script and packaging
// tests (which the script runs) copied over it.
func releaseClone(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mypoll")
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"clone", "-q", "--no-checkout", root, dir},
		{"-C", dir, "checkout", "-q", strings.TrimSpace(string(head))},
		{"-C", dir, "config", "user.email", "test@mypoll.invalid"},
		{"-C", dir, "config", "user.name", "release test"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cmd := exec.Command("sh", "-c", `cp "$1"/scripts/release-pin.sh "$2"/scripts/ && cp "$1"/packaging/*.go "$2"/packaging/ && cp -r "$1"/packaging/testdata "$2"/packaging/`, "sh", root, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	return dir
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// TestReleasePin: scripts/release-pin.sh refuses a commit that does not
// build as the recipes build it (the include file stays as it was, nothing
// is committed), and pins one that does: SRCREV and PV change, and one
// commit changes only mypoll-src.inc.
func TestReleasePin(t *testing.T) {
	dir := releaseClone(t)
	inc := filepath.Join(dir, srcInc)
	before, err := os.ReadFile(inc)
	if err != nil {
		t.Fatal(err)
	}
	head := gitOut(t, dir, "rev-parse", "HEAD")

	// The pin of issue 22: 131 commits behind, three recipes fail.
	const broken = "7d6af4e759d9b7bf05da5eb3000569ebaff66aef"
	out, err := exec.Command("sh", filepath.Join(dir, "scripts/release-pin.sh"), broken).CombinedOutput()
	if err == nil {
		t.Errorf("release-pin.sh %s succeeded; want a refusal\n%s", broken, out)
	}
	if after, _ := os.ReadFile(inc); string(after) != string(before) {
		t.Errorf("after a refused pin %s is\n%s\nwant it unchanged", srcInc, after)
	}
	if got := gitOut(t, dir, "rev-parse", "HEAD"); got != head {
		t.Errorf("a refused pin committed %s", got)
	}

	good := bbVars(t, srcInc)["SRCREV"] // builds: TestYocto_SrcrevBuilds
	out, err = exec.Command("sh", filepath.Join(dir, "scripts/release-pin.sh"), "-v", "0.2", good[:12]).CombinedOutput()
	if err != nil {
		t.Fatalf("release-pin.sh -v 0.2 %s: %v\n%s", good[:12], err, out)
	}
	after, _ := os.ReadFile(inc)
	for _, want := range []string{"\nSRCREV = \"" + good + "\"\n", "\nPV = \"0.2+git\"\n"} {
		if !strings.Contains(string(after), want) {
			t.Errorf("after release-pin.sh %s lacks %q:\n%s", srcInc, strings.TrimSpace(want), after)
		}
	}
	if got := gitOut(t, dir, "rev-parse", "HEAD~1"); got != head {
		t.Errorf("release-pin.sh made more than one commit (HEAD~1 = %s, want %s)", got, head)
	}
	if files := gitOut(t, dir, "show", "--format=", "--name-only", "HEAD"); files != srcInc {
		t.Errorf("the pin commit changes %q, want only %s", files, srcInc)
	}
}
