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

.PHONY: agent image test-qemu

## agent: the static arm64 guest agent (PID 1 of the test image) in $(OUT)/qemu/arm64/
agent:
	@mkdir -p $(dir $(AGENT))
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '-s -w' -o $(AGENT) ./qemu/agent

## image: the aarch64 test initramfs in $(OUT)/image/<hash>.cpio (reused when inputs are unchanged)
image: kernel agent $(IMAGE_INPUTS)
	@$(if $(strip $(GUEST_BINS)),$(MAKE) --no-print-directory $(GUEST_BINS))
	$(GO) run ./qemu/image/cmd/mkimage -kernel-env $(KERNEL_ENV) -agent $(AGENT) -o $(IMAGE_DIR) \
	  $$(test -f $(OUT)/bin/arm64/mypolld && echo -daemon $(OUT)/bin/arm64/mypolld) \
	  $$(test -f $(OUT)/kmod/mypoll.ko && echo -kmod $(OUT)/kmod/mypoll.ko) \
	  $(if $(strip $(GUEST_BINS)),-bins '$(strip $(GUEST_BINS))')

## test-qemu: the harness tests against a booted VM (image unit tests included)
test-qemu: image
	MYPOLL_REQUIRE_VM=1 MYPOLL_OUT=$(abspath $(OUT)) $(GO) test -count=1 ./qemu/...
