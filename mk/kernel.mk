# Debian's arm64 kernel image + headers, shared by kmod/ and qemu/.
DEPS_APT += ca-certificates dpkg-dev gcc make

KERNEL_ENV := $(OUT)/kernel/kernel.env

.PHONY: kernel
## kernel: download and extract Debian's arm64 kernel and headers (cached by version)
kernel:
	sh scripts/kernel-fetch.sh $(OUT)
