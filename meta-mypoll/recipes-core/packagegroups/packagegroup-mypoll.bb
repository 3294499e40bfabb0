SUMMARY = "mypoll: the daemon, its client and the kernel module"

inherit packagegroup

PACKAGES = "${PN} ${PN}-test"

RDEPENDS:${PN} = "mypolld kernel-module-mypoll"
SUMMARY:${PN}-test = "mypoll and its QEMU test agent"
RDEPENDS:${PN}-test = "${PN} mypoll-testagent"
