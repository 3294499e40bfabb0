# The /dev/mypoll kernel module: cross build, checkpatch, ABI and VM tests.
DEPS_APT += gcc-aarch64-linux-gnu libc6-dev linux-libc-dev make perl xz-utils dpkg-dev qemu-system-arm
# bookworm-armhf's module
DEPS_APT += gcc-arm-linux-gnueabihf

KMOD_OUT       := $(OUT)/kmod
KMOD_ARCH      ?= arm64
KMOD_CROSS     ?= aarch64-linux-gnu-
# A 32-bit ARM kernel of the matrix (mk/kernel.mk's karch) overrides both.
KMOD_ARCH_arm  := arm
KMOD_CROSS_arm := arm-linux-gnueabihf-
KMOD_SRCS      := kmod/mypoll.c kmod/mypoll_compat.h kmod/include/uapi/linux/mypoll.h kmod/Kbuild kmod/Makefile
CHECKPATCH_DIR := $(OUT)/checkpatch
CHECKPATCH     := $(CHECKPATCH_DIR)/scripts/checkpatch.pl
# checkpatch comes from the same source package as the kernel we build for.
CHECKPATCH_PKG ?= linux-source-6.1

# The device conformance suite (daemon/internal/device/devicetest/guest) is
# run on the module by kmod/ktest's VM test too.
# mypoll-kmod-arm.test is the same suite as a 32-bit ARM binary: it runs the
# ABI subset through the arm64 kernel's compat layer (compat_ptr_ioctl).
KTEST_BINS := $(OUT)/guest/mypoll-kmod.test $(OUT)/guest/mypoll-kmod-arm.test \
	      $(OUT)/guest/mypoll-devicetest.test
# On a 32-bit ARM kernel both suites are 32-bit programs already (no compat
# run: kmod/ktest's VM test skips it there).
KTEST_BINS_arm := $(OUT)/guest/arm/mypoll-kmod.test $(OUT)/guest/arm/mypoll-devicetest.test
TEST_TARGETS += test-kmod
LINT_TARGETS += lint-kmod

.PHONY: kmod kmods lint-kmod test-kmod test-kmod-abi test-kmod-vm guest-kmod-test

# $(call kmod_ko,K): mypoll.ko built for kernel K (the default's where it always was)
kmod_ko = $(if $(filter bookworm,$(1)),$(KMOD_OUT)/mypoll.ko,$(KMOD_OUT)/$(1)/mypoll.ko)

## kmod: cross-build mypoll.ko for the default arm64 kernel (W=1, warnings are errors) into $(OUT)/kmod/
kmod: $(KMOD_OUT)/mypoll.ko

## kmods: mypoll.ko for every kernel of KERNELS, in $(OUT)/kmod/<kernel>/ (the default's in $(OUT)/kmod/)
kmods: $(foreach k,$(KERNELS),$(call kmod_ko,$(k)))

$(KMOD_OUT)/mypoll.ko: $(KMOD_SRCS) $(KERNEL_ENV)
	KMOD_ARCH=$(KMOD_ARCH) KMOD_CROSS=$(KMOD_CROSS) sh scripts/kmod-build.sh $(KERNEL_ENV) $(KMOD_OUT)

$(KMOD_OUT)/%/mypoll.ko: $(KMOD_SRCS) $(OUT)/kernel/%/kernel.env
	KMOD_ARCH=$(or $(KMOD_ARCH_$(call karch,$*)),$(KMOD_ARCH)) KMOD_CROSS=$(or $(KMOD_CROSS_$(call karch,$*)),$(KMOD_CROSS)) \
	  sh scripts/kmod-build.sh $(OUT)/kernel/$*/kernel.env $(KMOD_OUT)/$*

$(KERNEL_ENV):
	$(MAKE) --no-print-directory kernel

## lint-kmod: checkpatch.pl --strict on the module source and its uapi header
lint-kmod: $(CHECKPATCH)
	perl $(CHECKPATCH) --strict --no-tree --show-types --terse -f kmod/mypoll.c kmod/include/uapi/linux/mypoll.h
	@# the compat header is the one place allowed to test the kernel version
	perl $(CHECKPATCH) --strict --no-tree --show-types --terse --ignore LINUX_VERSION_CODE -f kmod/mypoll_compat.h
	CGO_ENABLED=0 GOARCH=arm64 $(GO) vet -tags mypoll_guest ./kmod/ktest
	CGO_ENABLED=0 GOARCH=arm GOARM=7 $(GO) vet -tags mypoll_guest ./kmod/ktest

# Only the script and its two data files are taken from the 139 MB source package.
$(CHECKPATCH):
	@rm -rf $(CHECKPATCH_DIR) && mkdir -p $(CHECKPATCH_DIR)/deb
	cd $(CHECKPATCH_DIR)/deb && apt-get download -q $(CHECKPATCH_PKG) >/dev/null
	dpkg-deb --fsys-tarfile $(CHECKPATCH_DIR)/deb/$(CHECKPATCH_PKG)_*.deb | \
	  tar -xO -f - ./usr/src/$(CHECKPATCH_PKG).tar.xz | \
	  tar -xJ -f - -C $(CHECKPATCH_DIR) --strip-components=1 \
	    $(CHECKPATCH_PKG)/scripts/checkpatch.pl $(CHECKPATCH_PKG)/scripts/spelling.txt \
	    $(CHECKPATCH_PKG)/scripts/const_structs.checkpatch
	rm -rf $(CHECKPATCH_DIR)/deb
	@test -f $(CHECKPATCH)

## guest-kmod-test: the in-guest torture test binary (static arm64) for the image
guest-kmod-test: $(OUT)/guest/mypoll-kmod.test

$(OUT)/guest/mypoll-kmod.test: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -c -tags mypoll_guest -o $@ ./kmod/ktest

$(OUT)/guest/mypoll-kmod-arm.test: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) test -c -tags mypoll_guest -o $@ ./kmod/ktest

$(OUT)/guest/mypoll-devicetest.test: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -c -tags mypoll_guest -o $@ ./daemon/internal/device/devicetest/guest

$(OUT)/guest/arm/mypoll-kmod.test: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux $(GOENV_arm) $(GO) test -c -tags mypoll_guest -o $@ ./kmod/ktest

$(OUT)/guest/arm/mypoll-devicetest.test: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux $(GOENV_arm) $(GO) test -c -tags mypoll_guest -o $@ ./daemon/internal/device/devicetest/guest

## test-kmod: header ABI test against devabi, then on each kernel of KERNELS the conformance and torture suites in the VM
test-kmod: test-kmod-abi $(addprefix test-kmod-vm-,$(KERNELS))

test-kmod-abi: kmods
	$(GO) test -count=1 ./daemon/internal/devabi

# test-kmod-vm: the default kernel only (as before the matrix)
test-kmod-vm: test-kmod-vm-bookworm

# A long fuzzer run by hand: FUZZ_SECONDS on FUZZ_KERNEL (default the newest).
FUZZ_KERNEL  ?= $(KERNEL_NEWEST)
FUZZ_SECONDS ?= 600
.PHONY: fuzz-kmod
## fuzz-kmod: the module's ioctl/read/write fuzzer for FUZZ_SECONDS (600) on FUZZ_KERNEL (the newest kernel)
fuzz-kmod: image-kmod-$(FUZZ_KERNEL)
	. ./$(call kenv,$(FUZZ_KERNEL)) && MYPOLL_REQUIRE_VM=1 MYPOLL_KERNEL=$$KIMAGE \
	  MYPOLL_INITRD=$(abspath $(call image_dir,$(OUT)/image-kmod,$(FUZZ_KERNEL)))/$$(cat $(call image_dir,$(OUT)/image-kmod,$(FUZZ_KERNEL))/current) \
	  MYPOLL_KTEST_RUN='^TestTorture_Fuzz$$' MYPOLL_FUZZ_SECONDS=$(FUZZ_SECONDS) \
	  $(GO) test -count=1 -v -timeout 0 -run '^TestGuest$$' ./kmod/ktest

# $(call ktest_vm,K): boot kernel K with its image-kmod and run kmod/ktest's
# VM test; the lines it prints name the kernel.
define ktest_vm
.PHONY: test-kmod-vm-$(1)
## test-kmod-vm-$(1): the conformance and torture suites on the $(1) kernel
test-kmod-vm-$(1): image-kmod-$(1)
	@. ./$(call kenv,$(1)) && echo "test-kmod-vm [$(1)]: $$$$KREL ($$$$KVER)"
	. ./$(call kenv,$(1)) && MYPOLL_REQUIRE_VM=1 MYPOLL_KERNEL=$$$$KIMAGE \
	  MYPOLL_INITRD=$(abspath $(call image_dir,$(OUT)/image-kmod,$(1)))/$$$$(cat $(call image_dir,$(OUT)/image-kmod,$(1))/current) \
	  $(KTEST_ENV_$(1)) $(GO) test -count=1 -v -timeout $(or $(KTEST_TIMEOUT_$(1)),20m) ./kmod/ktest || \
	  { echo "test-kmod-vm [$(1)]: FAILED on $$$$KREL"; exit 1; }
endef
# KERNELS_EXTRA: kernels outside the matrix (mk/debugkernel.mk)
$(foreach k,$(KERNELS_ALL) $(KERNELS_EXTRA),$(eval $(call ktest_vm,$(k))))
