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

# $(call mkimage,DIR,BINS[,KERNEL]): an initramfs in DIR with the agent,
# mypolld, mypoll.ko and BINS in /bin (each BIN a make target, built first),
# for KERNEL of the matrix (default: the default kernel).
define mkimage
	@$(if $(strip $(2)),$(MAKE) --no-print-directory $(2))
	$(GO) run ./qemu/image/cmd/mkimage -kernel-env $(call kenv,$(or $(3),bookworm)) -agent $(AGENT) -o $(1) \
	  $$(test -f $(OUT)/bin/arm64/mypolld && echo -daemon $(OUT)/bin/arm64/mypolld) \
	  $$(test -f $(call kmod_ko,$(or $(3),bookworm)) && echo -kmod $(call kmod_ko,$(or $(3),bookworm))) \
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

# image-<kernel>, image-kmod-<kernel>: the same two images for each kernel of
# the matrix, in $(OUT)/image/<kernel>/ and $(OUT)/image-kmod/<kernel>/ (the
# default kernel's stay where they were).
define kimages
.PHONY: image-$(1) image-kmod-$(1)
image-$(1): agent $(call kenv,$(1)) $(if $(filter bookworm,$(1)),$(IMAGE_INPUTS),$(filter-out kmod,$(IMAGE_INPUTS)) $(if $(wildcard mk/kmod.mk),$(call kmod_ko,$(1))))
	$$(call mkimage,$(call image_dir,$(IMAGE_DIR),$(1)),$$(GUEST_BINS),$(1))
image-kmod-$(1): agent $(call kenv,$(1)) $(if $(filter bookworm,$(1)),$(IMAGE_INPUTS),$(filter-out kmod,$(IMAGE_INPUTS)) $(if $(wildcard mk/kmod.mk),$(call kmod_ko,$(1))))
	$$(call mkimage,$(call image_dir,$(OUT)/image-kmod,$(1)),$$(GUEST_BINS) $$(KTEST_BINS),$(1))
endef
$(foreach k,$(KERNELS_ALL) $(KERNELS_EXTRA),$(eval $(call kimages,$(k))))

## test-qemu: the harness tests against a booted VM (image unit tests included)
test-qemu: image
	MYPOLL_REQUIRE_VM=1 MYPOLL_OUT=$(abspath $(OUT)) $(GO) test -count=1 ./qemu/...
