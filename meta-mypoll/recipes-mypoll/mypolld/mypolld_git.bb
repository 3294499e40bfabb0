SUMMARY = "mypoll event daemon (mypolld) and its command-line client (mypollctl)"
DESCRIPTION = "mypolld broadcasts the events of the /dev/mypoll kernel device \
to local clients over an AF_UNIX line protocol, from one epoll loop. \
mypollctl sends its requests and streams events. Both binaries are static."
SECTION = "net"
LICENSE = "MIT & BSD-3-Clause"
LIC_FILES_CHKSUM = " \
    file://src/${GO_IMPORT}/LICENSE;md5=d2fde95dc71d5511340a4a07927933ce \
    file://src/${GO_IMPORT}/vendor/golang.org/x/sys/LICENSE;md5=7998cb338f82d15c0eff93b7004d272a;spdx=BSD-3-Clause \
    file://src/${GO_IMPORT}/vendor/github.com/hashicorp/go-hclog/LICENSE;md5=08d72ffda4fb40269260bfa13423c5be;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/fatih/color/LICENSE.md;md5=316e6d590bdcde7993fb175662c0dd5a;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/mattn/go-colorable/LICENSE;md5=24ce168f90aec2456a73de1839037245;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/mattn/go-isatty/LICENSE;md5=f509beadd5a11227c27b5d2ad6c9f2c6;spdx=MIT \
"

require recipes-mypoll/include/mypoll-go.inc

GO_INSTALL = "${GO_IMPORT}/daemon/cmd/mypolld ${GO_IMPORT}/daemon/cmd/mypollctl"

inherit systemd update-rc.d useradd

# mypolld runs as user mypoll (group mypoll, which may connect to the
# socket and subscribe); members of mypoll-ctl may also control the daemon
# (--control-group mypoll-ctl in /etc/default/mypolld).
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system mypoll; --system mypoll-ctl"
USERADD_PARAM:${PN} = "--system --no-create-home --home-dir /nonexistent --shell /bin/false --gid mypoll mypoll"

SYSTEMD_SERVICE:${PN} = "mypolld.socket mypolld.service"
INITSCRIPT_NAME = "mypolld"
INITSCRIPT_PARAMS = "defaults 50"

do_install:append() {
	install -D -m 0644 ${MYPOLL_INIT}/systemd/mypolld.service ${D}${systemd_system_unitdir}/mypolld.service
	install -D -m 0644 ${MYPOLL_INIT}/systemd/mypolld.socket ${D}${systemd_system_unitdir}/mypolld.socket
	install -D -m 0755 ${MYPOLL_INIT}/sysv/S50mypolld ${D}${sysconfdir}/init.d/mypolld
	install -D -m 0644 ${MYPOLL_INIT}/default/mypolld ${D}${sysconfdir}/default/mypolld
	install -D -m 0644 ${MYPOLL_INIT}/udev/60-mypoll.rules ${D}${nonarch_base_libdir}/udev/rules.d/60-mypoll.rules
	mypoll_check_static ${D}${bindir}/mypolld ${D}${bindir}/mypollctl
}

FILES:${PN} += "${nonarch_base_libdir}/udev/rules.d"
CONFFILES:${PN} = "${sysconfdir}/default/mypolld"
RRECOMMENDS:${PN} += "kernel-module-mypoll"
