# The /dev/mypoll kernel module: cross build, checkpatch, ABI and VM tests.
DEPS_APT += gcc-aarch64-linux-gnu libc6-dev linux-libc-dev make perl xz-utils dpkg-dev qemu-system-arm

KMOD_OUT       := $(OUT)/kmod
KMOD_ARCH      ?= arm64
KMOD_CROSS     ?= aarch64-linux-gnu-
KMOD_SRCS      := kmod/mypoll.c kmod/include/uapi/linux/mypoll.h kmod/Kbuild kmod/Makefile
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
TEST_TARGETS += test-kmod
LINT_TARGETS += lint-kmod

.PHONY: kmod lint-kmod test-kmod test-kmod-abi test-kmod-vm guest-kmod-test

## kmod: cross-build mypoll.ko for the arm64 kernel (W=1, warnings are errors) into $(OUT)/kmod/
kmod: $(KMOD_OUT)/mypoll.ko

$(KMOD_OUT)/mypoll.ko: $(KMOD_SRCS) $(KERNEL_ENV)
	@rm -rf $(KMOD_OUT)/build && mkdir -p $(KMOD_OUT)/build
	cp -r kmod/mypoll.c kmod/Kbuild kmod/Makefile kmod/include $(KMOD_OUT)/build/
	. ./$(KERNEL_ENV) && $(MAKE) -C "$$KDIR" M=$(abspath $(KMOD_OUT)/build) \
	  ARCH=$(KMOD_ARCH) CROSS_COMPILE=$(KMOD_CROSS) W=1 modules 2>&1 | tee $(KMOD_OUT)/build.log
	@if grep -E -i 'warning:|error:' $(KMOD_OUT)/build.log; then \
	  echo "kmod: the build printed warnings (see $(KMOD_OUT)/build.log)"; exit 1; fi
	cp $(KMOD_OUT)/build/mypoll.ko $@

$(KERNEL_ENV):
	$(MAKE) --no-print-directory kernel

## lint-kmod: checkpatch.pl --strict on the module source and its uapi header
lint-kmod: $(CHECKPATCH)
	perl $(CHECKPATCH) --strict --no-tree --show-types --terse -f kmod/mypoll.c kmod/include/uapi/linux/mypoll.h
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

## test-kmod: header ABI test against devabi, then the torture suite in the VM
test-kmod: test-kmod-abi test-kmod-vm

test-kmod-abi: kmod
	$(GO) test -count=1 ./daemon/internal/devabi

test-kmod-vm: image-kmod
	MYPOLL_REQUIRE_VM=1 MYPOLL_INITRD=$(abspath $(OUT))/image-kmod/$$(cat $(OUT)/image-kmod/current) \
	  $(GO) test -count=1 -v -timeout 20m ./kmod/ktest
