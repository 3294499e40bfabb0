SUMMARY = "mypoll QEMU test agent"
DESCRIPTION = "Serves the virtio-serial port named mypoll.test to the host \
test harness of mypoll (daemon socket proxy, commands, files). Started by \
udev only when that port exists; meant for test images, not products."
SECTION = "devel"
LICENSE = "MIT & BSD-3-Clause & MPL-2.0"
LIC_FILES_CHKSUM = " \
    file://src/${GO_IMPORT}/LICENSE;md5=d2fde95dc71d5511340a4a07927933ce \
    file://src/${GO_IMPORT}/vendor/golang.org/x/sys/LICENSE;md5=7998cb338f82d15c0eff93b7004d272a;spdx=BSD-3-Clause \
    file://src/${GO_IMPORT}/vendor/github.com/hashicorp/go-hclog/LICENSE;md5=08d72ffda4fb40269260bfa13423c5be;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/fatih/color/LICENSE.md;md5=316e6d590bdcde7993fb175662c0dd5a;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/mattn/go-colorable/LICENSE;md5=24ce168f90aec2456a73de1839037245;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/mattn/go-isatty/LICENSE;md5=f509beadd5a11227c27b5d2ad6c9f2c6;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/hashicorp/yamux/LICENSE;md5=4fb1de3449662e9252530414c87ed011;spdx=MPL-2.0 \
"

require recipes-mypoll/include/mypoll-go.inc

GO_INSTALL = "${GO_IMPORT}/qemu/agent"

inherit systemd update-rc.d

SYSTEMD_SERVICE:${PN} = "mypoll-testagent.service"
# Started by udev when the port appears, not enabled for a target.
SYSTEMD_AUTO_ENABLE = "disable"
INITSCRIPT_NAME = "mypoll-testagent"
INITSCRIPT_PARAMS = "defaults 99"

do_install:append() {
	mv ${D}${bindir}/agent ${D}${bindir}/mypoll-testagent
	install -D -m 0644 ${MYPOLL_INIT}/systemd/mypoll-testagent.service \
		${D}${systemd_system_unitdir}/mypoll-testagent.service
	install -D -m 0644 ${MYPOLL_INIT}/udev/90-mypoll-testagent.rules \
		${D}${nonarch_base_libdir}/udev/rules.d/90-mypoll-testagent.rules
	install -D -m 0755 ${MYPOLL_INIT}/sysv/S99mypoll-testagent ${D}${sysconfdir}/init.d/mypoll-testagent
	mypoll_check_static ${D}${bindir}/mypoll-testagent
}

FILES:${PN} += "${nonarch_base_libdir}/udev/rules.d"
