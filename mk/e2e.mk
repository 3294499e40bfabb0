# End to end: mypolld on the real /dev/mypoll in the aarch64 guest (tests/),
# make run, and the in-guest benchmark.
GUEST_BINS += $(OUT)/guest/mypollprobe $(OUT)/bin/arm64/mypollctl

TEST_TARGETS  += test-e2e
BENCH_TARGETS += bench-guest

.PHONY: test-e2e run bench-guest test-image

$(OUT)/guest/mypollprobe: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '-s -w' -o $@ ./daemon/cmd/mypollprobe

# for a 32-bit ARM kernel's image (mk/qemu.mk's arch_bins)
$(OUT)/guest/arm/mypollprobe: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '-s -w' -o $@ ./daemon/cmd/mypollprobe

# The end-to-end suite runs on the default kernel, on the newest of the
# matrix and on the 32-bit ARM one, each that is in KERNELS (mk/kernel.mk,
# read after this file: hence the second expansion).
E2E_KERNELS = $(filter bookworm bookworm-armhf $(KERNEL_NEWEST),$(KERNELS))

## test-e2e: the end-to-end tests: the daemon on /dev/mypoll in the guest, through the proxy (default, armhf and newest kernel)
.SECONDEXPANSION:
test-e2e: $$(addprefix test-e2e-,$$(E2E_KERNELS))

# test-e2e-<kernel>: the end-to-end tests on one kernel of the matrix
test-e2e-%: image-%
	@. ./$(call kenv,$*) && echo "test-e2e [$*]: $$KREL ($$KVER)"
	. ./$(call kenv,$*) && MYPOLL_REQUIRE_VM=1 MYPOLL_OUT=$(abspath $(OUT)) MYPOLL_KERNEL=$$KIMAGE \
	  MYPOLL_INITRD=$(abspath $(call image_dir,$(IMAGE_DIR),$*))/$$(cat $(call image_dir,$(IMAGE_DIR),$*)/current) \
	  $(GO) test -count=1 -timeout 20m ./tests/ || { echo "test-e2e [$*]: FAILED on $$KREL"; exit 1; }

## run: boot the aarch64 image with mypoll.ko and mypolld; the daemon's socket appears as $(OUT)/mypoll.sock
run: deps image build
	MYPOLL_OUT=$(abspath $(OUT)) $(GO) run ./qemu/cmd/mypoll-run

## bench-guest: trigger-to-client latency and fan-out through the real module, inside the guest
bench-guest: image
	MYPOLL_OUT=$(abspath $(OUT)) $(GO) run ./tests/guestbench

## test-image: the end-to-end suite against a kernel + image built elsewhere (Buildroot, Yocto): KERNEL=Image INITRD=rootfs.cpio | ROOTFS=rootfs.ext4 [APPEND=...] [SOCKET=/run/mypoll/mypoll.sock] [RUN=regexp]
# MYPOLL_IMAGE=1: the image's init system runs mypolld; the test tools are
# copied in; tests that need the harness to own the daemon or the module skip
# and say why (tests/image_test.go).
test-image: $(OUT)/guest/mypollprobe $(OUT)/guest/mypoll-listen $(OUT)/guest/mypoll-trigger
	@[ -n "$(KERNEL)" ] && [ -n "$(INITRD)$(ROOTFS)" ] || { echo "usage: make test-image KERNEL=<arm64 Image> INITRD=<cpio> | ROOTFS=<ext4/qcow2 image> [APPEND='...']"; exit 2; }
	MYPOLL_REQUIRE_VM=1 MYPOLL_IMAGE=1 MYPOLL_OUT=$(abspath $(OUT)) MYPOLL_KERNEL=$(abspath $(KERNEL)) \
	  $(if $(INITRD),MYPOLL_INITRD=$(abspath $(INITRD))) \
	  $(if $(ROOTFS),MYPOLL_DISK=$(abspath $(ROOTFS)) MYPOLL_APPEND='root=/dev/vda rw rootwait $(APPEND)',MYPOLL_APPEND='$(APPEND)') \
	  $(if $(SOCKET),MYPOLL_GUEST_SOCKET=$(SOCKET)) \
	  $(GO) test -count=1 -timeout 20m -v $(if $(RUN),-run '$(RUN)') ./tests/
