package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	bridgeMk     = "br2-external/package/mypoll-bridge/mypoll-bridge.mk"
	bridgeCfg    = "br2-external/package/mypoll-bridge/Config.in"
	bridgeRecipe = "meta-mypoll/recipes-mypoll/mypoll-bridge/mypoll-bridge_git.bb"
	bridgeUnit   = "init/systemd/mypoll-bridge.service"
	bridgeSysV   = "init/sysv/S60mypoll-bridge"
	bridgeDflt   = "init/default/mypoll-bridge"
)

// bridgeInitFiles: the files under init/ that belong to the bridge (their
// name says mypoll-bridge), relative to init/.
func bridgeInitFiles(t *testing.T) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(root, "init/*/*mypoll-bridge*"))
	var files []string
	for _, f := range m {
		rel, _ := filepath.Rel(filepath.Join(root, "init"), f)
		files = append(files, rel)
	}
	slices.Sort(files)
	want := []string{"default/mypoll-bridge", "systemd/mypoll-bridge.service", "sysv/S60mypoll-bridge"}
	if !slices.Equal(files, want) {
		t.Fatalf("bridge files under init/ = %q, want %q", files, want)
	}
	return files
}

// installs returns source -> "mode dest" for every install line of text
// whose source is "<srcPrefix>init/...".
func installs(text, srcPrefix string) map[string]string {
	text = strings.ReplaceAll(text, "\\\n", " ")
	re := regexp.MustCompile(`(?:install|\$\(INSTALL\))\s+-D\s+-m\s+(\d+)\s+` + regexp.QuoteMeta(srcPrefix) + `(\S+)\s+(\S+)`)
	got := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		got[m[2]] = m[1] + " " + m[3]
	}
	return got
}

// TestBridge_BuildrootInstalls: the package installs exactly the bridge's
// init files, each from the right hook to the right place with the right
// mode, and is wired into the tree (symbol, source line, not in a defconfig).
func TestBridge_BuildrootInstalls(t *testing.T) {
	files := bridgeInitFiles(t)
	v := mkVars(t, bridgeMk)
	want := map[string]string{ // init file -> hook variable, mode, destination
		"sysv/S60mypoll-bridge":         "MYPOLL_BRIDGE_INSTALL_INIT_SYSV 0755 $(TARGET_DIR)/etc/init.d/S60mypoll-bridge",
		"systemd/mypoll-bridge.service": "MYPOLL_BRIDGE_INSTALL_INIT_SYSTEMD 0644 $(TARGET_DIR)/usr/lib/systemd/system/mypoll-bridge.service",
		"default/mypoll-bridge":         "MYPOLL_BRIDGE_INSTALL_DEFAULTS 0644 $(TARGET_DIR)/etc/default/mypoll-bridge",
	}
	all := map[string]string{}
	for name, body := range v {
		for src, md := range installs(body, "$(@D)/") {
			if _, dup := all[src]; dup {
				t.Errorf("%s installs %s twice", bridgeMk, src)
			}
			all[src] = name + " " + md
		}
	}
	var srcs []string
	for src := range all {
		srcs = append(srcs, strings.TrimPrefix(src, "init/"))
	}
	slices.Sort(srcs)
	if !slices.Equal(srcs, files) {
		t.Errorf("%s installs %q from init/, want exactly %q", bridgeMk, srcs, files)
	}
	for f, w := range want {
		if got := all["init/"+f]; got != w {
			t.Errorf("%s: init/%s installed as %q, want %q", bridgeMk, f, got, w)
		}
	}
	if !slices.Contains(strings.Fields(v["MYPOLL_BRIDGE_POST_INSTALL_TARGET_HOOKS"]), "MYPOLL_BRIDGE_INSTALL_DEFAULTS") {
		t.Errorf("MYPOLL_BRIDGE_INSTALL_DEFAULTS is not in MYPOLL_BRIDGE_POST_INSTALL_TARGET_HOOKS: /etc/default/mypoll-bridge is never installed")
	}
	if !slices.Contains(staticChecked(t, v, "MYPOLL_BRIDGE"), bridgeBinary(t)) {
		t.Errorf("%s does not check that /usr/bin/%s is static", bridgeMk, bridgeBinary(t))
	}

	cfg := read(t, bridgeCfg)
	for _, w := range []string{
		"config BR2_PACKAGE_MYPOLL_BRIDGE\n",
		"depends on BR2_PACKAGE_HOST_GO_TARGET_ARCH_SUPPORTS\n",
		"select BR2_PACKAGE_HOST_GO\n",
		"select BR2_PACKAGE_MYPOLLD",
		"help\n",
	} {
		if !strings.Contains(cfg, w) {
			t.Errorf("%s lacks %q", bridgeCfg, strings.TrimSpace(w))
		}
	}
	var sources []string
	for line := range strings.Lines(read(t, "br2-external/Config.in")) {
		if strings.HasPrefix(line, "source ") {
			sources = append(sources, strings.TrimSpace(line))
		}
	}
	if !slices.Contains(sources, `source "$BR2_EXTERNAL_MYPOLL_PATH/package/mypoll-bridge/Config.in"`) {
		t.Errorf("br2-external/Config.in does not source the mypoll-bridge package")
	}
	if !slices.IsSorted(sources) {
		t.Errorf("br2-external/Config.in source lines are not sorted: %q", sources)
	}
	defs, _ := filepath.Glob(filepath.Join(root, "br2-external/configs/*_defconfig"))
	for _, d := range defs {
		if defconfigSyms(read(t, "br2-external/configs/"+filepath.Base(d)))["BR2_PACKAGE_MYPOLL_BRIDGE"] {
			t.Errorf("%s enables BR2_PACKAGE_MYPOLL_BRIDGE: the bridge is optional", filepath.Base(d))
		}
	}
}

// TestBridge_YoctoInstalls: the recipe installs exactly the bridge's init
// files, registers the unit and the SysV script (after mypolld's), and
// keeps the default file as a conffile.
func TestBridge_YoctoInstalls(t *testing.T) {
	files := bridgeInitFiles(t)
	v := bbVars(t, bridgeRecipe)
	text := v["BBFILE:"+bridgeRecipe]
	got := installs(text, "${MYPOLL_INIT}/")
	var srcs []string
	for src := range got {
		srcs = append(srcs, src)
	}
	slices.Sort(srcs)
	if !slices.Equal(srcs, files) {
		t.Errorf("%s installs %q from init/, want exactly %q", bridgeRecipe, srcs, files)
	}
	want := map[string]string{
		"sysv/S60mypoll-bridge":         "0755 ${D}${sysconfdir}/init.d/" + v["INITSCRIPT_NAME"],
		"systemd/mypoll-bridge.service": "0644 ${D}${systemd_system_unitdir}/mypoll-bridge.service",
		"default/mypoll-bridge":         "0644 ${D}${sysconfdir}/default/mypoll-bridge",
	}
	for f, w := range want {
		if got[f] != w {
			t.Errorf("%s: init/%s installed as %q, want %q", bridgeRecipe, f, got[f], w)
		}
	}
	if v["INITSCRIPT_NAME"] != "mypoll-bridge" {
		t.Errorf("INITSCRIPT_NAME = %q, want mypoll-bridge", v["INITSCRIPT_NAME"])
	}
	if v["SYSTEMD_SERVICE:${PN}"] != "mypoll-bridge.service" {
		t.Errorf("SYSTEMD_SERVICE:${PN} = %q, want mypoll-bridge.service", v["SYSTEMD_SERVICE:${PN}"])
	}
	if !regexp.MustCompile(`(?m)^inherit\b.*\bsystemd\b.*\bupdate-rc\.d\b`).MatchString(text) {
		t.Errorf("%s does not inherit systemd and update-rc.d", bridgeRecipe)
	}
	if v["CONFFILES:${PN}"] != "${sysconfdir}/default/mypoll-bridge" {
		t.Errorf("CONFFILES:${PN} = %q, want the default file", v["CONFFILES:${PN}"])
	}
	if !slices.Contains(strings.Fields(v["RDEPENDS:${PN}"]), "mypolld") {
		t.Errorf("RDEPENDS:${PN} = %q, want mypolld", v["RDEPENDS:${PN}"])
	}
	// update-rc.d start levels: the bridge after the daemon.
	level := func(params string) string {
		f := strings.Fields(params)
		if len(f) != 2 || f[0] != "defaults" {
			t.Fatalf("INITSCRIPT_PARAMS = %q, want \"defaults NN\"", params)
		}
		return f[1]
	}
	d := bbVars(t, "meta-mypoll/recipes-mypoll/mypolld/mypolld_git.bb")
	if b, m := level(v["INITSCRIPT_PARAMS"]), level(d["INITSCRIPT_PARAMS"]); b <= m || len(b) != len(m) {
		t.Errorf("INITSCRIPT_PARAMS level %s is not after mypolld's %s", b, m)
	}
	if !strings.Contains(text, "mypoll_check_static ${D}${bindir}/"+bridgeBinary(t)) {
		t.Errorf("%s does not check that %s is static", bridgeRecipe, bridgeBinary(t))
	}
}

// bridgeBinary: the bridge's name in `make build` (mk/go.mk GO_CMDS).
func bridgeBinary(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^GO_CMDS\s*:?=(.*)$`).FindStringSubmatch(read(t, "mk/go.mk"))
	if m == nil {
		t.Fatal("mk/go.mk has no GO_CMDS")
	}
	for _, c := range strings.Fields(m[1]) {
		if strings.Contains(c, "bridge") {
			return c
		}
	}
	t.Fatalf("GO_CMDS = %q has no bridge", m[1])
	return ""
}

// TestBridge_BinaryName: Buildroot, Yocto, the unit and the SysV script
// build and run the binary `make build` builds, from daemon/cmd/<name>.
func TestBridge_BinaryName(t *testing.T) {
	bin := bridgeBinary(t)
	checkMainPackage(t, "daemon/cmd/"+bin, "GO_CMDS")
	v := mkVars(t, bridgeMk)
	if got := v["MYPOLL_BRIDGE_BUILD_TARGETS"]; got != "daemon/cmd/"+bin {
		t.Errorf("MYPOLL_BRIDGE_BUILD_TARGETS = %q, want daemon/cmd/%s", got, bin)
	}
	if n, ok := v["MYPOLL_BRIDGE_BIN_NAME"]; ok && n != bin {
		t.Errorf("MYPOLL_BRIDGE_BIN_NAME = %q, want %s", n, bin)
	}
	r := bbVars(t, bridgeRecipe)
	if got := r["GO_INSTALL"]; got != "${GO_IMPORT}/daemon/cmd/"+bin {
		t.Errorf("GO_INSTALL = %q, want ${GO_IMPORT}/daemon/cmd/%s", got, bin)
	}
	start := unitKeys(t)["ExecStart"]
	if len(start) != 1 || !strings.HasPrefix(start[0], "/usr/bin/"+bin+" ") {
		t.Errorf("ExecStart = %q, want /usr/bin/%s ...", start, bin)
	}
	if !strings.Contains(read(t, bridgeSysV), `DAEMON="`+bin+`"`) {
		t.Errorf("%s does not run DAEMON=%q", bridgeSysV, bin)
	}
}

// unitKeys parses the bridge unit into key -> values (all sections).
func unitKeys(t *testing.T) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	for line := range strings.Lines(read(t, bridgeUnit)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", bridgeUnit, line)
		}
		keys[k] = append(keys[k], val)
	}
	return keys
}

// defaultVar: the value of a variable in the default file.
func defaultVar(t *testing.T, name string) (string, bool) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `="([^"]*)"$`).FindStringSubmatch(read(t, bridgeDflt))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// TestBridge_Unit: ordering, restart, environment and the state dir agree
// with the default file and the SysV script.
func TestBridge_Unit(t *testing.T) {
	k := unitKeys(t)
	one := func(key string) string {
		if len(k[key]) != 1 {
			t.Errorf("%s: %s = %q, want one value", bridgeUnit, key, k[key])
			return ""
		}
		return k[key][0]
	}
	if !slices.Contains(strings.Fields(one("After")), "mypolld.service") {
		t.Errorf("After= lacks mypolld.service")
	}
	if !slices.Contains(strings.Fields(one("Wants")), "mypolld.service") {
		t.Errorf("Wants= lacks mypolld.service")
	}
	if one("Restart") != "on-failure" {
		t.Errorf("Restart = %q, want on-failure", k["Restart"])
	}
	if rs := one("RestartSec"); !regexp.MustCompile(`^[1-9][0-9]*s$`).MatchString(rs) {
		t.Errorf("RestartSec = %q, want whole seconds > 0 (no restart storm)", rs)
	}
	if one("EnvironmentFile") != "-/etc/default/mypoll-bridge" {
		t.Errorf("EnvironmentFile = %q", k["EnvironmentFile"])
	}
	af := strings.Fields(one("RestrictAddressFamilies"))
	for _, fam := range []string{"AF_UNIX", "AF_INET", "AF_INET6"} {
		if !slices.Contains(af, fam) {
			t.Errorf("RestrictAddressFamilies lacks %s: the bridge needs mypolld's socket and the network", fam)
		}
	}
	args, ok := defaultVar(t, "MYPOLL_BRIDGE_ARGS")
	if !ok {
		t.Fatalf("%s does not set MYPOLL_BRIDGE_ARGS", bridgeDflt)
	}
	sd := regexp.MustCompile(`--state-dir\s+(\S+)`).FindStringSubmatch(args)
	if sd == nil || sd[1] != "/var/lib/"+one("StateDirectory") {
		t.Errorf("default --state-dir %q is not /var/lib/ + StateDirectory= %q (ProtectSystem=strict keeps anything else read-only)", sd, k["StateDirectory"])
	}
	if one("ProtectSystem") != "strict" {
		t.Errorf("ProtectSystem = %q, want strict like mypolld's", k["ProtectSystem"])
	}
	if !strings.Contains(read(t, bridgeSysV), `MYPOLL_BRIDGE_ARGS="`+args+`"`) {
		t.Errorf("%s's built-in MYPOLL_BRIDGE_ARGS differ from %s's %q", bridgeSysV, bridgeDflt, args)
	}
}

// TestBridge_NotStartedWithoutBroker runs the unit's ExecCondition and the
// SysV script (with a stand-in start-stop-daemon): with the shipped default
// file neither starts the bridge and both say why; with a broker set, both
// start it with --broker URL and the arguments split into words.
func TestBridge_NotStartedWithoutBroker(t *testing.T) {
	broker, ok := defaultVar(t, "MYPOLL_BRIDGE_BROKER")
	if !ok || broker != "" {
		t.Fatalf("%s: MYPOLL_BRIDGE_BROKER = %q (set %v), want it set to \"\": the package ships no broker", bridgeDflt, broker, ok)
	}
	args, _ := defaultVar(t, "MYPOLL_BRIDGE_ARGS")

	// systemd: ExecCondition=/bin/sh -c '...', $$ being a literal $.
	cond := unitKeys(t)["ExecCondition"]
	if len(cond) != 1 {
		t.Fatalf("ExecCondition = %q, want one", cond)
	}
	m := regexp.MustCompile(`^/bin/sh -c '(.*)'$`).FindStringSubmatch(cond[0])
	if m == nil {
		t.Fatalf("ExecCondition = %q, want /bin/sh -c '...'", cond[0])
	}
	script := strings.ReplaceAll(m[1], "$$", "$")
	runCond := func(broker string) (string, error) {
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "MYPOLL_BRIDGE_BROKER=" + broker, "MYPOLL_BRIDGE_ARGS=" + args}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := runCond("")
	if err == nil || !strings.Contains(out, "MYPOLL_BRIDGE_BROKER") || !strings.Contains(out, "/etc/default/mypoll-bridge") {
		t.Errorf("ExecCondition without a broker: err %v, output %q; want exit 1 naming MYPOLL_BRIDGE_BROKER and the default file", err, out)
	}
	if ee, ok := err.(*exec.ExitError); ok && (ee.ExitCode() < 1 || ee.ExitCode() > 254) {
		t.Errorf("ExecCondition exit code %d: 255 and signals fail the unit instead of skipping it", ee.ExitCode())
	}
	if out, err := runCond("tcp://broker.example:1883"); err != nil || out != "" {
		t.Errorf("ExecCondition with a broker: err %v, output %q; want success", err, out)
	}

	// SysV: the script reads a copy of the default file, and a stand-in
	// start-stop-daemon records its arguments.
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(dir, "calls")
	stub := "#!/bin/sh\nfor a; do printf '%s\\n' \"$a\"; done >>" + calls + "\necho END >>" + calls + "\n"
	for _, name := range []string{"start-stop-daemon", "logger"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dflt := filepath.Join(dir, "default")
	src := read(t, bridgeSysV)
	if !strings.Contains(src, `"/etc/default/$DAEMON"`) {
		t.Fatalf("%s does not read /etc/default/$DAEMON", bridgeSysV)
	}
	sysv := filepath.Join(dir, "S60mypoll-bridge")
	if err := os.WriteFile(sysv, []byte(strings.ReplaceAll(src, `"/etc/default/$DAEMON"`, `"`+dflt+`"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(dfltText string) (string, []string) {
		t.Helper()
		_ = os.Remove(calls)
		if err := os.WriteFile(dflt, []byte(dfltText), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh", sysv, "start")
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s start: %v\n%s", bridgeSysV, err, out)
		}
		b, _ := os.ReadFile(calls)
		return string(out), strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	out, calls1 := start(read(t, bridgeDflt))
	if !strings.Contains(out, "Not starting") || !strings.Contains(out, "MYPOLL_BRIDGE_BROKER") {
		t.Errorf("SysV start with the shipped default file printed %q, want Not starting ... MYPOLL_BRIDGE_BROKER", out)
	}
	if slices.Contains(calls1, "--start") {
		t.Errorf("SysV start with no broker ran start-stop-daemon %q", calls1)
	}
	conf := strings.Replace(read(t, bridgeDflt), `MYPOLL_BRIDGE_BROKER=""`, `MYPOLL_BRIDGE_BROKER="tcp://broker.example:1883"`, 1)
	conf = strings.Replace(conf, `MYPOLL_BRIDGE_ARGS="`+args+`"`, `MYPOLL_BRIDGE_ARGS="`+args+` --device-id board-17"`, 1)
	out, got := start(conf)
	if !strings.Contains(out, "OK") {
		t.Errorf("SysV start with a broker printed %q, want OK", out)
	}
	i := slices.Index(got, "--")
	want := append([]string{"--broker", "tcp://broker.example:1883"}, strings.Fields(args)...)
	want = append(want, "--device-id", "board-17", "END")
	if i < 0 || !slices.Contains(got[:i], "--start") || !slices.Contains(got[:i], "/usr/bin/"+bridgeBinary(t)) || !slices.Equal(got[i+1:], want) {
		t.Errorf("SysV start ran start-stop-daemon %q, want --start ... --exec /usr/bin/%s -- %q", got, bridgeBinary(t), want)
	}
}

// TestBridge_Checked: the generic checks see the new files: pkg-check.sh
// verifies the unit with systemd-analyze and shellchecks the SysV script,
// and the git-mode check finds the script installed with mode 0755 (so it
// must be 100644 in git).
func TestBridge_Checked(t *testing.T) {
	refs := scriptRefs(t)
	for _, who := range []string{bridgeMk, bridgeRecipe} {
		if !slices.ContainsFunc(refs, func(r scriptRef) bool {
			return r.path == bridgeSysV && r.kind == installed && r.who == who
		}) {
			t.Errorf("the script-mode check does not see %s install %s with mode 0755", who, bridgeSysV)
		}
	}
	if mode := gitModes(t, "init")[bridgeSysV]; mode != "100644" {
		t.Errorf("%s has git mode %q, want 100644", bridgeSysV, mode)
	}
	for _, c := range []struct{ check, want string }{
		{"units", "mypoll-bridge.service"},
		{"shellcheck", bridgeSysV},
	} {
		cmd := exec.Command("sh", "scripts/pkg-check.sh", c.check, filepath.Join(t.TempDir(), "pkg"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("pkg-check.sh %s: %v\n%s", c.check, err, out)
			continue
		}
		if !slices.Contains(strings.Fields(string(out)), c.want) {
			t.Errorf("pkg-check.sh %s does not cover %s:\n%s", c.check, c.want, out)
		}
	}
}
