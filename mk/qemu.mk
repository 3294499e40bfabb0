# QEMU aarch64 (and 32-bit ARM) target: the guest agent, the initramfs and the harness tests.
DEPS_APT += qemu-system-arm
TEST_TARGETS += test-qemu

# $(OUT)/qemu/<arch>/mypoll-testagent for arm64 and (bookworm-armhf) arm
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
agent: $(AGENT)

# agent-<arch>: the agent for a guest architecture of mk/kernel.mk's karch
.PHONY: agent-arm64 agent-arm
agent-arm64: $(OUT)/qemu/arm64/mypoll-testagent
agent-arm: $(OUT)/qemu/arm/mypoll-testagent

$(OUT)/qemu/%/mypoll-testagent: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux $(GOENV_$*) $(GO) build -trimpath -ldflags '-s -w' -o $@ ./qemu/agent

# $(call arch_bins,K,FILES): the guest programs FILES (arm64 builds, as
# GUEST_BINS and IMAGE_INPUTS name them) for kernel K's architecture: for a
# 32-bit ARM kernel $(OUT)/guest/arm/<name> and $(OUT)/bin/armv7/<name>,
# built by the arm rules of each fragment. The C benchmark baselines stay
# out of it (make bench-guest runs on the default image only).
arch_bins = $(if $(filter arm,$(call karch,$(1))),$(patsubst $(OUT)/guest/%,$(OUT)/guest/arm/%,$(patsubst \
	$(OUT)/bin/arm64/%,$(OUT)/bin/armv7/%,$(filter-out $(OUT)/guest/mypollbench-%,$(2)))),$(2))

# $(call mkimage,DIR,BINS[,KERNEL]): an initramfs in DIR with the agent,
# mypolld, mypoll.ko and BINS in /bin (each BIN a make target, built first),
# for KERNEL of the matrix (default: the default kernel); the agent and
# mypolld are those of the kernel's architecture.
define mkimage
	@$(if $(strip $(2)),$(MAKE) --no-print-directory $(2))
	$(GO) run ./qemu/image/cmd/mkimage -kernel-env $(call kenv,$(or $(3),bookworm)) \
	  -agent $(OUT)/qemu/$(call karch,$(or $(3),bookworm))/mypoll-testagent -o $(1) \
	  $$(test -f $(call arch_bins,$(or $(3),bookworm),$(OUT)/bin/arm64/mypolld) && \
	    echo -daemon $(call arch_bins,$(or $(3),bookworm),$(OUT)/bin/arm64/mypolld)) \
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
# A kernel of another architecture takes its own agent, programs and test
# binaries (arch_bins; KTEST_BINS_<arch> when mk/kmod.mk sets it).
define kimages
.PHONY: image-$(1) image-kmod-$(1)
image-$(1): agent-$(call karch,$(1)) $(call kenv,$(1)) $(if $(filter bookworm,$(1)),$(IMAGE_INPUTS),$(call arch_bins,$(1),$(filter-out kmod,$(IMAGE_INPUTS))) $(if $(wildcard mk/kmod.mk),$(call kmod_ko,$(1))))
	$$(call mkimage,$(call image_dir,$(IMAGE_DIR),$(1)),$$(call arch_bins,$(1),$$(GUEST_BINS)),$(1))
image-kmod-$(1): agent-$(call karch,$(1)) $(call kenv,$(1)) $(if $(filter bookworm,$(1)),$(IMAGE_INPUTS),$(call arch_bins,$(1),$(filter-out kmod,$(IMAGE_INPUTS))) $(if $(wildcard mk/kmod.mk),$(call kmod_ko,$(1))))
	$$(call mkimage,$(call image_dir,$(OUT)/image-kmod,$(1)),$$(call arch_bins,$(1),$$(GUEST_BINS)) $$(or $$(KTEST_BINS_$(call karch,$(1))),$$(KTEST_BINS)),$(1))
endef
$(foreach k,$(KERNELS_ALL) $(KERNELS_EXTRA),$(eval $(call kimages,$(k))))

## test-qemu: the harness tests against a booted VM (image unit tests included)
test-qemu: image
	MYPOLL_REQUIRE_VM=1 MYPOLL_OUT=$(abspath $(OUT)) $(GO) test -count=1 ./qemu/...
