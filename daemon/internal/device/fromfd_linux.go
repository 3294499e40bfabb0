package device

// FileFromFD wraps fd, an open /dev/mypoll descriptor (for example one
// received with open_device, PROTOCOL.md A.9), as a File. The File owns fd:
// its Close closes it. Reads follow fd's blocking mode.
func FileFromFD(fd int) File { return &kernelFile{fd: fd} }
