# Debian's arm64 (and one armhf) kernel images + headers, shared by kmod/ and qemu/.
DEPS_APT += ca-certificates dpkg-dev gcc make debootstrap

# The default kernel (make run, test-qemu, the 6.1 images): the host's
# Debian release, bookworm's 6.1.
KERNEL_ENV := $(OUT)/kernel/kernel.env

# The kernel matrix of make test: each kernel's module is built (W=1) and
# booted, and the conformance and torture suites run on it; the end-to-end
# suite runs on the default and on the newest. `make test KERNELS=trixie`
# selects a subset. trixie is Debian 13's 6.12, trixie-backports the newest
# kernel in trixie-backports (7.x today), both resolved from the
# metapackages at run time inside a trixie chroot (scripts/kernel-chroot.sh,
# cached under $(OUT)/chroot). bookworm-armhf is bookworm's 32-bit ARM
# kernel (armmp-lpae, from the host's apt with the armhf architecture): its
# module, agent and guest programs are built for 32-bit ARM and it boots on
# qemu-system-arm (the harness picks it from the kernel image).
KERNELS_ALL   := bookworm bookworm-armhf trixie trixie-backports
KERNELS       ?= $(KERNELS_ALL)
KERNEL_NEWEST := trixie-backports
KERNEL_CHROOT := $(OUT)/chroot/trixie
ifneq ($(filter-out $(KERNELS_ALL),$(KERNELS)),)
$(error KERNELS: unknown $(filter-out $(KERNELS_ALL),$(KERNELS)); known: $(KERNELS_ALL))
endif

# $(call kenv,K): the kernel.env of kernel K
kenv = $(if $(filter bookworm,$(1)),$(KERNEL_ENV),$(OUT)/kernel/$(1)/kernel.env)

# $(call karch,K): the guest architecture of kernel K, as the harness and the
# output directories name it (arm64 or arm)
karch = $(if $(filter %-armhf,$(1)),arm,arm64)
# the Go environment of a guest architecture
GOENV_arm64 := GOARCH=arm64
GOENV_arm   := GOARCH=arm GOARM=7

# $(call image_dir,BASE,K): where kernel K's image of BASE goes
image_dir = $(if $(filter bookworm,$(2)),$(1),$(1)/$(2))

.PHONY: kernel kernels kernel-chroot
## kernel: download and extract Debian's arm64 kernel and headers (cached by version)
kernel:
	sh scripts/kernel-fetch.sh $(OUT)

## kernels: resolve, download and extract every kernel of KERNELS (re-resolved each time, cached by version)
kernels: $(foreach k,$(KERNELS),$(call kenv,$(k)))

## kernel-chroot: the trixie chroot (debootstrap, gcc 14) the newer kernels' module is built in
kernel-chroot:
	sh scripts/kernel-chroot.sh $(OUT) trixie >/dev/null

# Re-resolved on every run (the newest backports kernel changes); the file
# is rewritten only when the kernel changed.
$(OUT)/kernel/trixie/kernel.env: kernel-chroot FORCE
	KFETCH_CHROOT=$(abspath $(KERNEL_CHROOT)) sh scripts/kernel-fetch.sh $(OUT) trixie

$(OUT)/kernel/trixie-backports/kernel.env: kernel-chroot FORCE
	KFETCH_CHROOT=$(abspath $(KERNEL_CHROOT)) KFETCH_TARGET=trixie-backports \
	  sh scripts/kernel-fetch.sh $(OUT) trixie-backports

# The host's apt (bookworm), the armhf architecture (make deps adds it).
$(OUT)/kernel/bookworm-armhf/kernel.env: FORCE
	KFETCH_ARCH=armhf KFETCH_FLAVOUR=armmp-lpae sh scripts/kernel-fetch.sh $(OUT) bookworm-armhf
