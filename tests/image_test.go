package tests_test

import (
	"context"
	"os"
	"path/filepath"
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
//   - mypollprobe, a test tool no image ships, is copied into the guest
//     from $MYPOLL_OUT/guest (make test-image builds it);
//   - "start" after a kill runs the image's SysV script or systemctl;
//   - what needs the harness to own the daemon or the module is skipped,
//     each with its reason (imageSkip): restarting mypolld with other
//     flags, reading its exit status, reloading the module.
var imageMode = os.Getenv("MYPOLL_IMAGE") == "1"

// imageSkip skips t when it runs against an image, saying why.
func imageSkip(t *testing.T, why string) {
	t.Helper()
	if imageMode {
		t.Skip("image under test: " + why)
	}
}

// guestProbe is where the tests run mypollprobe in the guest.
const guestProbe = "/bin/mypollprobe"

// imageReady waits for the daemon the image's init started and copies
// mypollprobe into the guest.
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
	data, err := os.ReadFile(filepath.Join(out, "guest", "mypollprobe"))
	if err != nil {
		t.Fatalf("mypollprobe for the guest (make test-image builds it): %v", err)
	}
	if err := g.vm.Put(t.Context(), guestProbe, data); err != nil {
		t.Fatalf("copy mypollprobe into the image: %v", err)
	}
	g.exec(t, "chmod", "0755", guestProbe)
}

// imageStartDaemon starts mypolld the way the image's init system does.
func (g *guest) imageStartDaemon(t *testing.T) {
	t.Helper()
	if g.exec(t, "test", "-x", "/etc/init.d/S50mypolld") == 0 {
		if code := g.exec(t, "/etc/init.d/S50mypolld", "start"); code != 0 {
			t.Fatalf("/etc/init.d/S50mypolld start: exit %d", code)
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
