SUMMARY = "mypoll-bridge: carries mypolld's events to an MQTT broker"
DESCRIPTION = "mypoll-bridge is a client of mypolld and of an MQTT 3.1.1 \
broker: it publishes every event in seq order, at least once, through a \
crash-safe spool on disk. A static binary. It is not started until \
/etc/default/mypoll-bridge sets MYPOLL_BRIDGE_BROKER."
SECTION = "net"
LICENSE = "MIT & BSD-2-Clause & BSD-3-Clause & (EPL-2.0 | BSD-3-Clause)"
LIC_FILES_CHKSUM = " \
    file://src/${GO_IMPORT}/LICENSE;md5=d2fde95dc71d5511340a4a07927933ce \
    file://src/${GO_IMPORT}/vendor/github.com/eclipse/paho.mqtt.golang/LICENSE;md5=dcdb33474b60c38efd27356d8f2edec7;spdx=EPL-2.0 \
    file://src/${GO_IMPORT}/vendor/github.com/gorilla/websocket/LICENSE;md5=c007b54a1743d596f46b2748d9f8c044;spdx=BSD-2-Clause \
    file://src/${GO_IMPORT}/vendor/golang.org/x/net/LICENSE;md5=7998cb338f82d15c0eff93b7004d272a;spdx=BSD-3-Clause \
    file://src/${GO_IMPORT}/vendor/golang.org/x/sync/LICENSE;md5=7998cb338f82d15c0eff93b7004d272a;spdx=BSD-3-Clause \
    file://src/${GO_IMPORT}/vendor/golang.org/x/sys/LICENSE;md5=7998cb338f82d15c0eff93b7004d272a;spdx=BSD-3-Clause \
    file://src/${GO_IMPORT}/vendor/github.com/hashicorp/go-hclog/LICENSE;md5=08d72ffda4fb40269260bfa13423c5be;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/fatih/color/LICENSE.md;md5=316e6d590bdcde7993fb175662c0dd5a;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/mattn/go-colorable/LICENSE;md5=24ce168f90aec2456a73de1839037245;spdx=MIT \
    file://src/${GO_IMPORT}/vendor/github.com/mattn/go-isatty/LICENSE;md5=f509beadd5a11227c27b5d2ad6c9f2c6;spdx=MIT \
"

# A recipe of its own rather than a package split of mypolld's: the bridge
# links paho and x/net (a licence list of its own), has its own init files,
# and a split would need PACKAGES/FILES/SYSTEMD_PACKAGES/INITSCRIPT_PACKAGES
# in mypolld's recipe. The cost is a second go build of the same checkout.
require recipes-mypoll/include/mypoll-go.inc

GO_INSTALL = "${GO_IMPORT}/daemon/cmd/mypoll-bridge"

inherit systemd update-rc.d useradd

# The bridge runs as user mypoll-bridge, in group mypoll (connect and
# subscribe; the group is mypolld's, added here too so that the order of
# the packages' preinsts does not matter). For remote control commands
# (--allow-commands trigger,...) add mypoll-ctl to its groups (README.md).
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system mypoll"
USERADD_PARAM:${PN} = "--system --no-create-home --home-dir /var/lib/mypoll-bridge --shell /bin/false --user-group --groups mypoll mypoll-bridge"

SYSTEMD_SERVICE:${PN} = "mypoll-bridge.service"
INITSCRIPT_NAME = "mypoll-bridge"
INITSCRIPT_PARAMS = "defaults 60"

do_install:append() {
	install -D -m 0644 ${MYPOLL_INIT}/systemd/mypoll-bridge.service ${D}${systemd_system_unitdir}/mypoll-bridge.service
	install -D -m 0755 ${MYPOLL_INIT}/sysv/S60mypoll-bridge ${D}${sysconfdir}/init.d/mypoll-bridge
	install -D -m 0644 ${MYPOLL_INIT}/default/mypoll-bridge ${D}${sysconfdir}/default/mypoll-bridge
	mypoll_check_static ${D}${bindir}/mypoll-bridge
}

CONFFILES:${PN} = "${sysconfdir}/default/mypoll-bridge"
RDEPENDS:${PN} += "mypolld"
