# Under a real systemd (issue 19 item 14): a Debian bookworm arm64 userland
# with systemd as PID 1 and mypoll installed from init/ (units, socket
# activation, udev rule, modules-load.d, users), booted on the default
# kernel; the end-to-end suite runs against it in image mode (make
# test-image): the daemon is the socket-activated one, as user mypoll.
DEPS_APT += debootstrap qemu-user-static cpio kmod

SYSTEMD_IMAGE := $(OUT)/systemd/rootfs.cpio.gz

.PHONY: systemd-image test-e2e-systemd

## systemd-image: the Debian arm64 systemd image with mypoll in $(OUT)/systemd/ (userland cached; needs binfmt_misc for qemu-user)
systemd-image: kernel agent $(OUT)/bin/arm64/mypolld $(OUT)/bin/arm64/mypollctl kmod
	sh scripts/systemd-image.sh $(OUT) $(KERNEL_ENV) $(AGENT) $(OUT)/bin/arm64 $(call kmod_ko,bookworm)

## test-e2e-systemd: the end-to-end suite against mypolld socket-activated by systemd in the guest
test-e2e-systemd: systemd-image
	. ./$(KERNEL_ENV) && $(MAKE) --no-print-directory test-image KERNEL=$$KIMAGE INITRD=$(SYSTEMD_IMAGE)
