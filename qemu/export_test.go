package qemu

// QemuArgs exposes the command line built for cfg (socket in dir).
func QemuArgs(cfg Config, sockDir string) []string {
	vm := &VM{cfg: cfg, sockDir: sockDir, sock: sockDir + "/port.sock"}
	if vm.cfg.SMP == 0 {
		vm.cfg.SMP = 1
	}
	if vm.cfg.MemoryMB == 0 {
		vm.cfg.MemoryMB = 512
	}
	return vm.qemuArgs()
}

// ShellQuote exposes shellQuote.
var ShellQuote = shellQuote
