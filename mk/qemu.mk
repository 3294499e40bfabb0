# QEMU aarch64 target: the guest agent, the initramfs and the harness tests.
DEPS_APT += qemu-system-arm
TEST_TARGETS += test-qemu

AGENT      := $(OUT)/qemu/arm64/mypoll-testagent
IMAGE_DIR  := $(OUT)/image
# What the image picks up when it can be built (tested with the shell at run
# time: make's $(wildcard) cache may predate files the prerequisites made): mypolld once daemon/cmd/mypolld
# exists, mypoll.ko through the kmod target once mk/kmod.mk exists. Guest test
# binaries come from GUEST_BINS (each a make target of its fragment).
IMAGE_INPUTS += $(if $(wildcard daemon/cmd/mypolld),$(OUT)/bin/arm64/mypolld)
IMAGE_INPUTS += $(if $(wildcard mk/kmod.mk),kmod)

.PHONY: agent image image-kmod test-qemu

## agent: the static arm64 guest agent (PID 1 of the test image) in $(OUT)/qemu/arm64/
agent:
	@mkdir -p $(dir $(AGENT))
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '-s -w' -o $(AGENT) ./qemu/agent

# $(call mkimage,DIR,BINS): an initramfs in DIR with the agent, mypolld,
# mypoll.ko and BINS in /bin (each BIN a make target, built first).
define mkimage
	@$(if $(strip $(2)),$(MAKE) --no-print-directory $(2))
	$(GO) run ./qemu/image/cmd/mkimage -kernel-env $(KERNEL_ENV) -agent $(AGENT) -o $(1) \
	  $$(test -f $(OUT)/bin/arm64/mypolld && echo -daemon $(OUT)/bin/arm64/mypolld) \
	  $$(test -f $(OUT)/kmod/mypoll.ko && echo -kmod $(OUT)/kmod/mypoll.ko) \
	  $(if $(strip $(2)),-bins '$(strip $(2))')
endef

## image: the aarch64 initramfs in $(OUT)/image/<hash>.cpio (reused when inputs are unchanged)
image: kernel agent $(IMAGE_INPUTS)
	$(call mkimage,$(IMAGE_DIR),$(GUEST_BINS))

# The module's torture binaries (KTEST_BINS, 19 MB) go into an image of their
# own: every 10 MB of initramfs costs about 0.1 s of boot under TCG.
## image-kmod: the image plus the kernel-module test binaries, in $(OUT)/image-kmod/
image-kmod: kernel agent $(IMAGE_INPUTS)
	$(call mkimage,$(OUT)/image-kmod,$(GUEST_BINS) $(KTEST_BINS))

## test-qemu: the harness tests against a booted VM (image unit tests included)
test-qemu: image
	MYPOLL_REQUIRE_VM=1 MYPOLL_OUT=$(abspath $(OUT)) $(GO) test -count=1 ./qemu/...
