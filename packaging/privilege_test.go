package packaging_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Least privilege on the board (DESIGN.md §12, issue 19 items 4, 6, 7, 9):
// mypolld runs as user mypoll, the bridge as its own user, /dev/mypoll is
// group mypoll mode 0660, control is for group mypoll-ctl, and both build
// trees create those users and groups.

const (
	daemonUnit   = "init/systemd/mypolld.service"
	daemonSocket = "init/systemd/mypolld.socket"
	daemonSysV   = "init/sysv/S50mypolld"
	daemonDflt   = "init/default/mypolld"
	daemonMk     = "br2-external/package/mypolld/mypolld.mk"
	daemonRecipe = "meta-mypoll/recipes-mypoll/mypolld/mypolld_git.bb"
	udevRule     = "init/udev/60-mypoll.rules"

	daemonUser   = "mypoll"
	socketGroup  = "mypoll"
	controlGroup = "mypoll-ctl"
	bridgeUser   = "mypoll-bridge"
)

// unitFile parses a unit file into key -> values (all sections; an empty
// assignment is kept as "").
func unitFile(t *testing.T, rel string) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	for line := range strings.Lines(strings.ReplaceAll(read(t, rel), "\\\n", " ")) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", rel, line)
		}
		keys[k] = append(keys[k], val)
	}
	return keys
}

// wantKeys checks that unit sets each key to exactly the value given (its
// last assignment, as systemd reads it).
func wantKeys(t *testing.T, rel string, k map[string][]string, want map[string]string) {
	t.Helper()
	for key, w := range want {
		v, ok := k[key]
		switch {
		case !ok:
			t.Errorf("%s lacks %s=%s", rel, key, w)
		case v[len(v)-1] != w:
			t.Errorf("%s: %s=%q, want %q", rel, key, v[len(v)-1], w)
		}
	}
}

// hardening are the sandboxing settings both daemons' units carry.
var hardening = map[string]string{
	"CapabilityBoundingSet":   "",
	"AmbientCapabilities":     "",
	"NoNewPrivileges":         "yes",
	"UMask":                   "0077",
	"ProtectSystem":           "strict",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"PrivateMounts":           "yes",
	"ProtectKernelTunables":   "yes",
	"ProtectKernelModules":    "yes",
	"ProtectKernelLogs":       "yes",
	"ProtectControlGroups":    "yes",
	"ProtectClock":            "yes",
	"ProtectHostname":         "yes",
	"ProtectProc":             "invisible",
	"ProcSubset":              "pid",
	"RestrictNamespaces":      "yes",
	"RestrictRealtime":        "yes",
	"RestrictSUIDSGID":        "yes",
	"RemoveIPC":               "yes",
	"LockPersonality":         "yes",
	"MemoryDenyWriteExecute":  "yes",
	"SystemCallArchitectures": "native",
	"SystemCallErrorNumber":   "EPERM",
}

// checkSyscallFilter: an allow list of @system-service, then the
// privileged and resource calls removed from it.
func checkSyscallFilter(t *testing.T, rel string, k map[string][]string) {
	t.Helper()
	f := k["SystemCallFilter"]
	if len(f) != 2 || f[0] != "@system-service" || f[1] != "~@privileged @resources" {
		t.Errorf("%s: SystemCallFilter = %q, want [@system-service, ~@privileged @resources]", rel, f)
	}
}

// TestPriv_DaemonUnit (items 4, 9): mypolld.service runs as mypoll:mypoll
// with no capabilities, sees only /dev/mypoll of the devices, has no
// network, and carries the sandboxing of the peers.
func TestPriv_DaemonUnit(t *testing.T) {
	k := unitFile(t, daemonUnit)
	want := map[string]string{
		"User":                     daemonUser,
		"Group":                    socketGroup,
		"DevicePolicy":             "closed",
		"DeviceAllow":              "/dev/mypoll rw",
		"PrivateNetwork":           "yes",
		"IPAddressDeny":            "any",
		"RestrictAddressFamilies":  "AF_UNIX",
		"RuntimeDirectory":         "mypoll",
		"RuntimeDirectoryPreserve": "yes",
	}
	for key, v := range hardening {
		want[key] = v
	}
	wantKeys(t, daemonUnit, k, want)
	checkSyscallFilter(t, daemonUnit, k)
	for _, key := range []string{"DynamicUser", "PrivateDevices", "PrivateUsers", "SupplementaryGroups"} {
		if v, ok := k[key]; ok && v[len(v)-1] != "no" && v[len(v)-1] != "" {
			// PrivateDevices would hide /dev/mypoll; PrivateUsers would
			// show every client as nobody in SO_PEERCRED (A.7).
			t.Errorf("%s: %s=%q breaks the daemon", daemonUnit, key, v)
		}
	}
	// The socket (systemd's) lives in the runtime directory the daemon
	// owns, and its group is the daemon's group.
	s := unitFile(t, daemonSocket)
	wantKeys(t, daemonSocket, s, map[string]string{
		"ListenStream": "/run/" + k["RuntimeDirectory"][0] + "/mypoll.sock",
		"SocketGroup":  socketGroup,
		"SocketMode":   "0660",
	})
}

// TestPriv_BridgeUnit (items 7, 9): the bridge runs as its own user, in
// group mypoll only (may connect and subscribe; control needs mypoll-ctl,
// added only with --allow-commands: README), with the network it needs.
func TestPriv_BridgeUnit(t *testing.T) {
	k := unitFile(t, bridgeUnit)
	want := map[string]string{
		"DynamicUser":             "yes",
		"User":                    bridgeUser,
		"SupplementaryGroups":     socketGroup,
		"PrivateDevices":          "yes",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
	}
	for key, v := range hardening {
		want[key] = v
	}
	wantKeys(t, bridgeUnit, k, want)
	checkSyscallFilter(t, bridgeUnit, k)
	if v, ok := k["PrivateNetwork"]; ok && v[len(v)-1] != "no" {
		t.Errorf("%s: PrivateNetwork=%q: the bridge needs the network", bridgeUnit, v)
	}
}

// brUsers parses a Buildroot users table (<PKG>_USERS): one line per user
// "username uid group gid password home shell groups comment"; username
// "-" creates only the group.
type brUser struct {
	name, group, home, shell string
	groups                   []string
	uid, gid                 string
}

func brUsersOf(t *testing.T, mk, prefix string) []brUser {
	t.Helper()
	var us []brUser
	for line := range strings.Lines(mkVars(t, mk)[prefix+"_USERS"]) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 9 {
			t.Fatalf("%s %s_USERS line %q: want 9 fields", mk, prefix, line)
		}
		u := brUser{name: f[0], uid: f[1], group: f[2], gid: f[3], home: f[5], shell: f[6]}
		if f[7] != "-" {
			u.groups = strings.Split(f[7], ",")
		}
		us = append(us, u)
	}
	return us
}

// TestPriv_BuildrootUsers (items 4, 6, 7): mypolld's table creates user
// mypoll (group mypoll) and the group mypoll-ctl; the bridge's creates its
// user, a member of mypoll. System users: automatic ids, no login.
func TestPriv_BuildrootUsers(t *testing.T) {
	d := brUsersOf(t, daemonMk, "MYPOLLD")
	b := brUsersOf(t, bridgeMk, "MYPOLL_BRIDGE")
	find := func(us []brUser, name, group string) *brUser {
		for i := range us {
			if us[i].name == name && us[i].group == group {
				return &us[i]
			}
		}
		return nil
	}
	for _, c := range []struct {
		us          []brUser
		who         string
		name, group string
		groups      []string
	}{
		{d, daemonMk, daemonUser, socketGroup, nil},
		{d, daemonMk, "-", controlGroup, nil},
		{b, bridgeMk, bridgeUser, bridgeUser, []string{socketGroup}},
	} {
		u := find(c.us, c.name, c.group)
		if u == nil {
			t.Errorf("%s users table has no user %q with group %q: %+v", c.who, c.name, c.group, c.us)
			continue
		}
		if (u.uid != "-1" && (c.name != "-" || u.uid != "-")) || u.gid != "-1" {
			t.Errorf("%s: %s: uid %s gid %s, want -1 -1 (automatic system ids)", c.who, c.name, u.uid, u.gid)
		}
		if c.name != "-" && (u.home != "-" || u.shell != "-") {
			t.Errorf("%s: %s: home %q shell %q, want - - (no home, /bin/false)", c.who, c.name, u.home, u.shell)
		}
		if !slices.Equal(u.groups, c.groups) {
			t.Errorf("%s: %s: supplementary groups %q, want %q", c.who, c.name, u.groups, c.groups)
		}
	}
}

// useradd parses USERADD_PARAM/GROUPADD_PARAM (";"-separated commands)
// into name -> options.
func useradd(val string) map[string][]string {
	out := map[string][]string{}
	for cmd := range strings.SplitSeq(val, ";") {
		f := strings.Fields(cmd)
		if len(f) > 0 {
			out[f[len(f)-1]] = f[:len(f)-1]
		}
	}
	return out
}

// optVal returns the value of --long or -short in opts ("" if absent).
func optVal(opts []string, long, short string) (string, bool) {
	for i, o := range opts {
		if (o == long || o == short) && i+1 < len(opts) {
			return opts[i+1], true
		}
		if v, ok := strings.CutPrefix(o, long+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestPriv_YoctoUsers (items 4, 6, 7): the recipes inherit useradd and
// create the same users and groups as Buildroot.
func TestPriv_YoctoUsers(t *testing.T) {
	for _, c := range []struct {
		recipe, user, gid, groups string
		groupadd                  []string
	}{
		{daemonRecipe, daemonUser, socketGroup, "", []string{socketGroup, controlGroup}},
		{bridgeRecipe, bridgeUser, "", socketGroup, []string{socketGroup}},
	} {
		v := bbVars(t, c.recipe)
		text := v["BBFILE:"+c.recipe]
		if !regexp.MustCompile(`(?m)^inherit\b.*\buseradd\b`).MatchString(text) {
			t.Errorf("%s does not inherit useradd", c.recipe)
		}
		if v["USERADD_PACKAGES"] != "${PN}" {
			t.Errorf("%s: USERADD_PACKAGES = %q, want ${PN}", c.recipe, v["USERADD_PACKAGES"])
		}
		g := useradd(v["GROUPADD_PARAM:${PN}"])
		for _, name := range c.groupadd {
			if opts, ok := g[name]; !ok || !slices.Contains(opts, "--system") {
				t.Errorf("%s: GROUPADD_PARAM:${PN} = %q does not add system group %s", c.recipe, v["GROUPADD_PARAM:${PN}"], name)
			}
		}
		u := useradd(v["USERADD_PARAM:${PN}"])
		opts, ok := u[c.user]
		if !ok {
			t.Errorf("%s: USERADD_PARAM:${PN} = %q does not add user %s", c.recipe, v["USERADD_PARAM:${PN}"], c.user)
			continue
		}
		for _, want := range []string{"--system", "--no-create-home"} {
			if !slices.Contains(opts, want) {
				t.Errorf("%s: useradd %s lacks %s", c.recipe, c.user, want)
			}
		}
		if sh, _ := optVal(opts, "--shell", "-s"); sh != "/bin/false" {
			t.Errorf("%s: useradd %s --shell %q, want /bin/false", c.recipe, c.user, sh)
		}
		if c.gid != "" {
			if gid, _ := optVal(opts, "--gid", "-g"); gid != c.gid {
				t.Errorf("%s: useradd %s --gid %q, want %s", c.recipe, c.user, gid, c.gid)
			}
		} else if !slices.Contains(opts, "--user-group") {
			t.Errorf("%s: useradd %s has neither --gid nor --user-group", c.recipe, c.user)
		}
		if groups, _ := optVal(opts, "--groups", "-G"); groups != c.groups {
			t.Errorf("%s: useradd %s --groups %q, want %q", c.recipe, c.user, groups, c.groups)
		}
	}
}

// TestPriv_UdevRule (item 4): /dev/mypoll gets group mypoll, mode 0660,
// where udev runs; both trees install the rule with the daemon (which
// creates the group).
func TestPriv_UdevRule(t *testing.T) {
	text := read(t, udevRule)
	var rules []string
	for line := range strings.Lines(text) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			rules = append(rules, line)
		}
	}
	if len(rules) != 1 {
		t.Fatalf("%s: want one rule, got %q", udevRule, rules)
	}
	name := regexp.MustCompile(`dev->misc\.name = "([^"]+)"`).FindStringSubmatch(read(t, "kmod/mypoll.c"))
	if name == nil {
		t.Fatal("kmod/mypoll.c: no misc device name")
	}
	for _, want := range []string{`KERNEL=="` + name[1] + `"`, `SUBSYSTEM=="misc"`, `GROUP="` + socketGroup + `"`, `MODE="0660"`} {
		if !strings.Contains(rules[0], want) {
			t.Errorf("%s: rule %q lacks %s", udevRule, rules[0], want)
		}
	}
	mk := mkVars(t, daemonMk)
	if !strings.Contains(strings.Join(strings.Fields(mk["MYPOLLD_INSTALL_UDEV"]), " "), "$(@D)/"+udevRule+" $(TARGET_DIR)/usr/lib/udev/rules.d/60-mypoll.rules") ||
		!slices.Contains(strings.Fields(mk["MYPOLLD_POST_INSTALL_TARGET_HOOKS"]), "MYPOLLD_INSTALL_UDEV") {
		t.Errorf("%s does not install %s into /usr/lib/udev/rules.d from a post-install hook", daemonMk, udevRule)
	}
	r := bbVars(t, daemonRecipe)
	if !strings.Contains(r["BBFILE:"+daemonRecipe], "${MYPOLL_INIT}/udev/60-mypoll.rules ${D}${nonarch_base_libdir}/udev/rules.d/60-mypoll.rules") ||
		!strings.Contains(r["FILES:${PN}"], "${nonarch_base_libdir}/udev/rules.d") {
		t.Errorf("%s does not install and package %s", daemonRecipe, udevRule)
	}
}

// defaultArgs returns the value of a VAR="..." line in a default file.
func defaultArgs(t *testing.T, rel, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `="([^"]*)"$`).FindStringSubmatch(read(t, rel))
	if m == nil {
		t.Fatalf("%s does not set %s", rel, name)
	}
	return m[1]
}

// TestPriv_ControlGroupShipped (item 6): the daemon's defaults restrict
// control to mypoll-ctl, in init/ and in the QEMU board's overlay, and the
// SysV script's built-in arguments are the same as the default file's.
func TestPriv_ControlGroupShipped(t *testing.T) {
	for _, f := range []string{daemonDflt, "br2-external/board/qemu-aarch64-virt/rootfs-overlay/etc/default/mypolld"} {
		args := defaultArgs(t, f, "MYPOLLD_ARGS")
		if g := regexp.MustCompile(`--control-group\s+(\S+)`).FindStringSubmatch(args); g == nil || g[1] != controlGroup {
			t.Errorf("%s: MYPOLLD_ARGS=%q, want --control-group %s", f, args, controlGroup)
		}
		if g := regexp.MustCompile(`--socket-group\s+(\S+)`).FindStringSubmatch(args); g == nil || g[1] != socketGroup {
			t.Errorf("%s: MYPOLLD_ARGS=%q, want --socket-group %s", f, args, socketGroup)
		}
	}
	args := defaultArgs(t, daemonDflt, "MYPOLLD_ARGS")
	if !strings.Contains(read(t, daemonSysV), `MYPOLLD_ARGS="`+args+`"`) {
		t.Errorf("%s's built-in MYPOLLD_ARGS differ from %s's %q", daemonSysV, daemonDflt, args)
	}
	for _, f := range []string{"README.md", "br2-external/README.md", "meta-mypoll/README.md"} {
		text := read(t, f)
		for _, w := range []string{controlGroup, "--control-group", bridgeUser, "/dev/mypoll"} {
			if !strings.Contains(text, w) {
				t.Errorf("%s does not document %s (who belongs in mypoll and in mypoll-ctl)", f, w)
			}
		}
	}
}

// sysvRun is a copy of a SysV script with its fixed paths moved into a
// temp dir, and a PATH with stand-ins for some commands.
type sysvRun struct {
	dir, script, bin, calls string
}

// stub makes name a stand-in that appends its arguments (one per line,
// then END) to the calls file.
func (r *sysvRun) stub(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		s := "#!/bin/sh\n{ echo " + name + "; for a; do printf '%s\\n' \"$a\"; done; echo END; } >>" + r.calls + "\n"
		if err := os.WriteFile(filepath.Join(r.bin, name), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// callsOf returns the argument lists the stand-in name was called with.
func (r *sysvRun) callsOf(t *testing.T, name string) [][]string {
	t.Helper()
	b, _ := os.ReadFile(r.calls)
	var out [][]string
	var block []string // the current call: stand-in name, then arguments
	for l := range strings.Lines(string(b)) {
		l = strings.TrimSuffix(l, "\n")
		if l == "END" && len(block) > 0 {
			if block[0] == name {
				out = append(out, block[1:])
			}
			block = nil
			continue
		}
		block = append(block, l)
	}
	return out
}

func newSysvRun(t *testing.T, rel string, repl ...string) *sysvRun {
	t.Helper()
	dir := t.TempDir()
	// The daemon may run as nobody: it must reach its stand-in binary.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := &sysvRun{dir: dir, script: filepath.Join(dir, filepath.Base(rel)), bin: filepath.Join(dir, "bin"), calls: filepath.Join(dir, "calls")}
	if err := os.Mkdir(r.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	src := read(t, rel)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(src, repl[i]) {
			t.Fatalf("%s does not contain %q", rel, repl[i])
		}
		src = strings.ReplaceAll(src, repl[i], repl[i+1])
	}
	if err := os.WriteFile(r.script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *sysvRun) run(t *testing.T, action string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", r.script, action)
	cmd.Env = []string{"PATH=" + r.bin + ":/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", filepath.Base(r.script), action, err, out)
	}
	return string(out)
}

// TestPriv_DaemonSysVArgs (items 4, 6): S50mypolld starts mypolld with
// --chuid mypoll:mypoll, after creating its socket and state directories
// for that user; the default file's arguments reach the daemon.
func TestPriv_DaemonSysVArgs(t *testing.T) {
	r := newSysvRun(t, daemonSysV, `"/etc/default/$DAEMON"`, `"DFLT"`, `DEVICE="/dev/mypoll"`, `DEVICE="NODEV"`)
	src, _ := os.ReadFile(r.script)
	dflt := filepath.Join(r.dir, "default")
	sock := filepath.Join(r.dir, "run/sock/mypoll.sock")
	state := filepath.Join(r.dir, "run/state")
	if err := os.WriteFile(r.script, []byte(strings.ReplaceAll(strings.ReplaceAll(string(src), "DFLT", dflt), "NODEV", filepath.Join(r.dir, "nodev"))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dflt, []byte(`MYPOLLD_ARGS="--socket `+sock+` --state-dir=`+state+` --control-group `+controlGroup+`"`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.stub(t, "start-stop-daemon", "chown", "modprobe")
	out := r.run(t, "start")
	if !strings.Contains(out, "OK") {
		t.Errorf("start printed %q, want OK", out)
	}
	ssd := r.callsOf(t, "start-stop-daemon")
	if len(ssd) != 1 {
		t.Fatalf("start-stop-daemon calls %q, want one", ssd)
	}
	a := ssd[0]
	i := slices.Index(a, "--")
	if i < 0 || !slices.Contains(a[:i], "--start") || !hasPair(a[:i], "--chuid", daemonUser+":"+socketGroup) {
		t.Errorf("start-stop-daemon %q, want --start --chuid %s:%s", a, daemonUser, socketGroup)
	}
	if i >= 0 && !slices.Equal(a[i+1:], []string{"--socket", sock, "--state-dir=" + state, "--control-group", controlGroup}) {
		t.Errorf("daemon arguments %q, want the default file's", a[i+1:])
	}
	chowns := r.callsOf(t, "chown")
	for _, d := range []string{filepath.Dir(sock), state} {
		st, err := os.Stat(d)
		if err != nil || !st.IsDir() {
			t.Errorf("start did not create %s: %v", d, err)
		} else if st.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %v, want 0755", d, st.Mode().Perm())
		}
		if !slices.ContainsFunc(chowns, func(c []string) bool { return slices.Equal(c, []string{daemonUser + ":" + socketGroup, d}) }) {
			t.Errorf("start did not chown %s to %s:%s: %q", d, daemonUser, socketGroup, chowns)
		}
	}
	// A directory that exists is left alone (it may be /tmp or /run).
	_ = os.Remove(r.calls)
	r.run(t, "start")
	if c := r.callsOf(t, "chown"); len(c) != 0 {
		t.Errorf("second start chowned existing directories: %q", c)
	}
}

// TestPriv_SysVWithBusyBox (item 4): the SysV scripts work with BusyBox's
// start-stop-daemon (Buildroot's BusyBox init): the daemon runs as the
// configured user and group with that user's supplementary groups, and
// the script gives a root:root /dev/mypoll to the group, mode 0660, as
// the udev rule would. The users are replaced by nobody:nogroup, which
// every Debian host has. Needs root (setuid) and busybox (make deps).
func TestPriv_SysVWithBusyBox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: start-stop-daemon --chuid changes the uid (make test-pkg runs as root in CI)")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox not found (make deps installs it): %v", err)
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	nogroup, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Fatal(err)
	}
	standIn := buildStandIn(t)
	for _, c := range []struct {
		script, daemon string
		repl           []string
	}{
		{daemonSysV, "mypolld", []string{`RUN_AS="mypoll:mypoll"`, `RUN_AS="nobody:nogroup"`}},
		{bridgeSysV, "mypoll-bridge", []string{`RUN_AS="mypoll-bridge:mypoll-bridge"`, `RUN_AS="nobody:nogroup"`, `MYPOLL_BRIDGE_BROKER=""`, `MYPOLL_BRIDGE_BROKER="tcp://b:1883"`}},
	} {
		t.Run(c.daemon, func(t *testing.T) {
			r := newSysvRun(t, c.script, c.repl...)
			out := filepath.Join(r.dir, "id")
			stand := filepath.Join(r.dir, c.daemon)
			dev := filepath.Join(r.dir, "mypoll")
			state := filepath.Join(r.dir, "state")
			// The stand-in records its ids and arguments, then waits to be
			// stopped: a binary, since start-stop-daemon finds it by its exec.
			if err := copyFile(standIn, stand); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(r.dir, 0o777); err != nil {
				t.Fatal(err)
			}
			src, _ := os.ReadFile(r.script)
			s := strings.ReplaceAll(string(src), `"/usr/bin/$DAEMON"`, `"`+stand+`"`)
			s = strings.ReplaceAll(s, `"/var/run/$DAEMON.pid"`, `"`+filepath.Join(r.dir, "pid")+`"`)
			s = strings.ReplaceAll(s, `"/etc/default/$DAEMON"`, `"`+filepath.Join(r.dir, "none")+`"`)
			s = strings.ReplaceAll(s, `DEVICE="/dev/mypoll"`, `DEVICE="`+dev+`"`)
			s = strings.ReplaceAll(s, `--exec "/usr/bin/$DAEMON"`, `--exec "`+stand+`"`)
			s = strings.ReplaceAll(s, "--state-dir /var/lib/mypoll-bridge", "--state-dir "+state)
			s = strings.ReplaceAll(s, `MYPOLLD_ARGS="--socket-group mypoll --control-group mypoll-ctl"`,
				`MYPOLLD_ARGS="--socket `+filepath.Join(r.dir, "run/mypoll.sock")+` --state-dir `+state+`"`)
			if err := os.WriteFile(r.script, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, applet := range []string{"start-stop-daemon", "chown", "chgrp", "chmod", "mkdir", "ls"} {
				w := "#!/bin/sh\nexec " + bb + " " + applet + " \"$@\"\n"
				if err := os.WriteFile(filepath.Join(r.bin, applet), []byte(w), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			r.stub(t, "modprobe", "logger")
			if c.daemon == "mypolld" {
				// A node as the kernel makes it without udev: root:root 0600.
				if err := syscall.Mknod(dev, syscall.S_IFCHR|0o600, int(unixMkdev(1, 3))); err != nil {
					t.Fatal(err)
				}
			}
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					r.run(t, "stop")
				}
			})
			if o := r.run(t, "start"); !strings.Contains(o, "OK") {
				t.Fatalf("start printed %q", o)
			}
			var got []string
			for deadline := time.Now().Add(10 * time.Second); ; {
				if b, err := os.ReadFile(out); err == nil {
					got = strings.Split(strings.TrimSpace(string(b)), "\n")
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the daemon stand-in did not run")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(got) < 3 || got[0] != nobody.Uid || got[1] != nogroup.Gid {
				t.Errorf("%s ran as uid/gid %q, want %s/%s", c.daemon, got, nobody.Uid, nogroup.Gid)
			}
			if fi, err := os.Stat(state); err != nil {
				t.Errorf("state dir: %v", err)
			} else if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Uid)) != nobody.Uid {
				t.Errorf("state dir %s owned by uid %d, want %s", state, st.Uid, nobody.Uid)
			}
			if c.daemon == "mypolld" {
				fi, err := os.Stat(dev)
				if err != nil {
					t.Fatal(err)
				}
				st := fi.Sys().(*syscall.Stat_t)
				if strconv.Itoa(int(st.Gid)) != nogroup.Gid || fi.Mode().Perm() != 0o660 {
					t.Errorf("device node gid %d mode %v after start, want %s 0660", st.Gid, fi.Mode().Perm(), nogroup.Gid)
				}
			}
			stopped = true
			if o := r.run(t, "stop"); !strings.Contains(o, "OK") {
				t.Errorf("stop printed %q", o)
			}
			if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), "TERM") {
				t.Errorf("the stand-in did not get SIGTERM from stop: %q %v", b, err)
			}
		})
	}
}

// unixMkdev is makedev(3) for the Linux dev_t encoding.
func unixMkdev(major, minor uint32) uint64 {
	return uint64(major&0xfff)<<8 | uint64(minor&0xff) | uint64(major&^0xfff)<<32 | uint64(minor&^0xff)<<12
}

// securityCheck runs pkg-check.sh security on the units in dir.
func securityCheck(t *testing.T, dir string) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "scripts/pkg-check.sh", "security", filepath.Join(t.TempDir(), "pkg"), abs)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPriv_SecurityScores (item 9): pkg-check.sh scores every shipped
// service unit with systemd-analyze security --offline=true, prints each
// score, and fails when a gated unit's exposure rises above the threshold:
// checked on copies of the units with the daemon's user and network
// isolation taken out.
func TestPriv_SecurityScores(t *testing.T) {
	units, _ := filepath.Glob(filepath.Join(root, "init/systemd/*.service"))
	if len(units) < 3 {
		t.Fatalf("found %d service units", len(units))
	}
	out, err := securityCheck(t, filepath.Join(root, "init/systemd"))
	if err != nil {
		t.Fatalf("pkg-check.sh security on the shipped units: %v\n%s", err, out)
	}
	score := regexp.MustCompile(`(?m)^pkg-check: security: (\S+\.service) exposure ([0-9.]+) \(threshold ([0-9.]+|none[^)]*)\)`)
	got := map[string]bool{}
	for _, m := range score.FindAllStringSubmatch(out, -1) {
		got[m[1]] = true
		if m[1] == "mypolld.service" || m[1] == "mypoll-bridge.service" {
			if strings.HasPrefix(m[3], "none") {
				t.Errorf("%s is not gated: %s", m[1], m[0])
			}
		}
	}
	for _, u := range units {
		if !got[filepath.Base(u)] {
			t.Errorf("no score printed for %s:\n%s", filepath.Base(u), out)
		}
	}
	t.Log(out)

	// A regression: mypolld back to root and on the host's network.
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(u) == "mypolld.service" {
			b = regexp.MustCompile(`(?m)^(User|Group|PrivateNetwork|CapabilityBoundingSet|IPAddressDeny)=.*\n`).ReplaceAll(b, nil)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(u)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err = securityCheck(t, dir)
	if err == nil || !strings.Contains(out, "mypolld.service") || !strings.Contains(out, "above") {
		t.Errorf("pkg-check.sh security passed a mypolld.service running as root with the host network: %v\n%s", err, out)
	}
}

// standInSrc records its uid, gid, groups and arguments in <its path>/../id,
// waits for SIGTERM and records that too.
const standInSrc = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	out := filepath.Join(filepath.Dir(os.Args[0]), "id")
	gs, _ := os.Getgroups()
	text := fmt.Sprintf("%d\n%d\n%v\n%s\n", os.Getuid(), os.Getgid(), gs, strings.Join(os.Args[1:], " "))
	_ = os.WriteFile(out+".tmp", []byte(text), 0o644)
	_ = os.Rename(out+".tmp", out)
	<-ch
	_ = os.WriteFile(out, []byte(text+"TERM\n"), 0o644)
}
`

// buildStandIn builds standInSrc once per test run.
func buildStandIn(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(standInSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "standin")
	cmd := exec.Command("go", "build", "-o", bin, "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO111MODULE=off", "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the stand-in daemon: %v\n%s", err, out)
	}
	return bin
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// TestPriv_NoWritableExecutable (item 9): MemoryDenyWriteExecute=yes in
// both units holds for the binaries: built as the trees build them
// (static, arm64), no segment is both writable and executable and the
// stack is not executable (Go has no JIT that would map W+X at run time).
func TestPriv_NoWritableExecutable(t *testing.T) {
	dir := t.TempDir()
	for _, pkg := range []string{"daemon/cmd/mypolld", "daemon/cmd/mypoll-bridge"} {
		bin := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./"+pkg) // as mk/go.mk builds them (shared build cache)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		stack := false
		for _, p := range f.Progs {
			if p.Flags&elf.PF_W != 0 && p.Flags&elf.PF_X != 0 {
				t.Errorf("%s: segment %v at %#x is writable and executable", pkg, p.Type, p.Vaddr)
			}
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", pkg)
			}
			stack = stack || p.Type == elf.PT_GNU_STACK
		}
		if !stack {
			t.Logf("%s has no PT_GNU_STACK (the kernel then maps a non-executable stack on arm64)", pkg)
		}
		f.Close()
	}
}
