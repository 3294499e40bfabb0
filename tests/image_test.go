package tests_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mypoll/mypoll/qemu"
)

// Image mode: `make test-image KERNEL=... INITRD=...|ROOTFS=...` runs this
// suite (MYPOLL_IMAGE=1) against a kernel and root filesystem built
// elsewhere (Buildroot, Yocto). There the image's init system, not the
// harness agent, loads the module (from the image's /lib/modules) and
// starts mypolld (with the image's /etc/default/mypolld), so:
//   - boot waits for the daemon's socket instead of asking the agent;
//   - the test tools no image ships (mypollprobe, the libmypoll examples)
//     are copied into the guest's /bin from $MYPOLL_OUT/guest (make
//     test-image builds them);
//   - "start" after a kill runs the image's SysV script or systemctl;
//   - "restart" with other flags writes them to /etc/default/mypolld and
//     runs the SysV script (restart with the harness defaults puts the
//     image's file back); under systemd the socket unit owns the socket's
//     mode, and Restart=on-failure brings a killed daemon straight back, so
//     the tests that rely on those skip there (imageSkipUnlessSysV);
//   - what needs the harness to own the daemon or the module is skipped,
//     each with its reason (imageSkip): reading the daemon's exit status,
//     reloading the module.
var imageMode = os.Getenv("MYPOLL_IMAGE") == "1"

// imageSkip skips t when it runs against an image, saying why.
func imageSkip(t *testing.T, why string) {
	t.Helper()
	if imageMode {
		t.Skip("image under test: " + why)
	}
}

// imageTools are the test tools copied from $MYPOLL_OUT/guest into the
// image's /bin, where the tests run them.
var imageTools = []string{"mypollprobe", "mypoll-listen", "mypoll-trigger"}

// imageReady waits for the daemon the image's init started and copies the
// test tools into the guest.
func (g *guest) imageReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*g.wait)
	defer cancel()
	for {
		nc, err := g.vm.Dial(ctx, sock)
		if err == nil {
			nc.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no daemon accepting on %s in the image: %v", sock, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, err := qemu.OutDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range imageTools {
		data, err := os.ReadFile(filepath.Join(out, "guest", tool))
		if err != nil {
			t.Fatalf("%s for the guest (make test-image builds it): %v", tool, err)
		}
		if err := g.vm.Put(t.Context(), "/bin/"+tool, data); err != nil {
			t.Fatalf("copy %s into the image: %v", tool, err)
		}
		if code := g.exec(t, "chmod", "0755", "/bin/"+tool); code != 0 {
			t.Fatalf("chmod /bin/%s in the image: exit %d", tool, code)
		}
	}
}

// sysvScript is the image's SysV script for mypolld (BusyBox init).
const sysvScript = "/etc/init.d/S50mypolld"

// imageDefaults is the image's /etc/default/mypolld, saved before a
// restart with other flags replaces it.
var imageDefaults []byte

// imageSkipUnlessSysV skips t unless the image runs mypolld from the SysV
// script, whose flags come from /etc/default/mypolld.
func (g *guest) imageSkipUnlessSysV(t *testing.T, why string) {
	t.Helper()
	if imageMode && g.exec(t, "test", "-x", sysvScript) != 0 {
		t.Skip("image under test has no " + sysvScript + ": " + why)
	}
}

// imageRestartDaemon restarts mypolld through the SysV script with args in
// /etc/default/mypolld, or with the image's own file when args are the
// harness defaults.
func (g *guest) imageRestartDaemon(t *testing.T, args []string) {
	t.Helper()
	const defaults = "/etc/default/mypolld"
	if imageDefaults == nil {
		b, err := g.vm.Fetch(t.Context(), defaults)
		if err != nil {
			t.Fatalf("fetch %s: %v", defaults, err)
		}
		imageDefaults = b
	}
	text := imageDefaults
	if !slices.Equal(args, defaultDaemonArgs) {
		// The script splits $MYPOLLD_ARGS on blanks and does not unquote.
		for _, a := range args {
			if strings.ContainsAny(a, " \t\n\"'$`\\") {
				t.Fatalf("flag %q cannot pass through MYPOLLD_ARGS", a)
			}
		}
		text = []byte("MYPOLLD_ARGS=\"" + strings.Join(args, " ") + "\"\n")
	}
	if err := g.vm.Put(t.Context(), defaults, text); err != nil {
		t.Fatalf("write %s: %v", defaults, err)
	}
	if code := g.exec(t, sysvScript, "restart"); code != 0 {
		t.Fatalf("%s restart: exit %d", sysvScript, code)
	}
	g.imageReady(t)
}

// imageStartDaemon starts mypolld the way the image's init system does.
func (g *guest) imageStartDaemon(t *testing.T) {
	t.Helper()
	if g.exec(t, "test", "-x", sysvScript) == 0 {
		if code := g.exec(t, sysvScript, "start"); code != 0 {
			t.Fatalf("%s start: exit %d", sysvScript, code)
		}
	} else if code := g.exec(t, "systemctl", "restart", "mypolld.socket", "mypolld.service"); code != 0 {
		t.Fatalf("systemctl restart mypolld: exit %d", code)
	}
	g.imageReady(t)
}

// imageDaemonGone waits until no mypolld process is left in the guest.
func (g *guest) imageDaemonGone(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(g.wait); g.exec(t, "pidof", "mypolld") == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("mypolld still runs %v after SIGTERM", g.wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exec runs argv in the guest (PATH lookup by the agent) and returns its
// exit code; a failure to run it at all fails t.
func (g *guest) exec(t *testing.T, argv ...string) int {
	t.Helper()
	res, err := g.vm.Exec(t.Context(), argv, nil)
	if err != nil {
		t.Fatalf("%v in the guest: %v", argv, err)
	}
	return res.ExitCode
}
