# LAVA (board farms): the job definitions in lava/, checked against LAVA's
# own schema (Debian's lava-common), and the image the qemu job deploys:
# the test initramfs with a shell on the console (lava/README.md).
# lava-dispatcher: lava-run; telnet: the Pi device's console command, which
# the dispatcher's validation looks for.
DEPS_APT += lava-common lava-dispatcher telnet python3-yaml python3-jinja2 cpio gzip shellcheck

LAVA_OUT     := $(OUT)/lava
LAVA_BUSYBOX := $(LAVA_OUT)/busybox-arm64
# BusyBox for the target, from Debian (the arm64 architecture is enabled by
# make deps).
LAVA_BUSYBOX_PKG := busybox-static:arm64

TEST_TARGETS += test-lava test-lava-run

.PHONY: test-lava test-lava-run lava-image test-lava-image

LAVA_SCRIPTS := lava/mkimage.sh lava/overlay/init lava/overlay/etc/init.d/rcS lava/overlay/bin/mypoll-lava-tests

## test-lava: the LAVA jobs, test definition and device configurations validate with lava-common's schemas (and broken copies do not) and with the dispatcher (lava-run --validate); shellcheck of the image's scripts
test-lava:
	shellcheck --severity=style $(LAVA_SCRIPTS)
	$(GO) test -count=1 -skip '^TestLavaRun_' ./lava/

# lava-run is Debian's lava-dispatcher, run here as a LAVA worker would:
# it downloads the artifacts (file://), adds its test shell to the ramdisk,
# boots qemu-system-aarch64 (TCG) and drives the console.
## test-lava-run: the qemu jobs (lava/jobs/qemu-virt*.yaml) run by LAVA's own dispatcher (lava-run) on the local qemu device; every test case must pass
test-lava-run: lava-image
	MYPOLL_REQUIRE_VM=1 MYPOLL_LAVA_ARTIFACTS=$(abspath $(LAVA_OUT)) $(GO) test -count=1 -v -run '^TestLavaRun_' ./lava/

$(LAVA_BUSYBOX):
	@rm -rf $(LAVA_OUT)/deb && mkdir -p $(LAVA_OUT)/deb
	cd $(LAVA_OUT)/deb && apt-get download -q $(LAVA_BUSYBOX_PKG) >/dev/null
	dpkg-deb --fsys-tarfile $(LAVA_OUT)/deb/busybox-static_*.deb | tar -xO -f - ./bin/busybox >$@.tmp
	chmod 0755 $@.tmp && mv $@.tmp $@
	rm -rf $(LAVA_OUT)/deb

## lava-image: the artifacts of lava/jobs/*.yaml in $(OUT)/lava/: Image, bcm2837-rpi-3-b.dtb, initrd.cpio.gz (image-kmod + a shell on the console), mypoll-lava-overlay.tar.gz (the shell alone), test-initrd.cpio.gz (image-kmod)
lava-image: image-kmod $(LAVA_BUSYBOX)
	sh lava/mkimage.sh $(OUT)/image-kmod/$$(cat $(OUT)/image-kmod/current) $(AGENT) $(LAVA_BUSYBOX) $(LAVA_OUT)
	gzip -c $(OUT)/image-kmod/$$(cat $(OUT)/image-kmod/current) >$(LAVA_OUT)/test-initrd.cpio.gz
	. ./$(KERNEL_ENV) && cp $$KIMAGE $(LAVA_OUT)/Image && \
	  cp $$KROOT/usr/lib/linux-image-$$KREL/broadcom/bcm2837-rpi-3-b.dtb $(LAVA_OUT)/

# The LAVA image under the project's harness: the end-to-end suite in image
# mode (the agent as a service beside the LAVA shell), then the on-target
# runner through the agent.
## test-lava-image: the end-to-end suite against the LAVA image (make test-image), to show the shell does not break the agent
test-lava-image: lava-image
	$(MAKE) --no-print-directory test-image KERNEL=$(LAVA_OUT)/Image INITRD=$(LAVA_OUT)/initrd.cpio.gz
