SUMMARY = "A small image running mypolld with the mypoll kernel module"
DESCRIPTION = "core-image based test image for QEMU (MACHINE = qemuarm64): \
mypolld, mypollctl, mypoll.ko, the QEMU test agent and an ssh server for \
testimage."
LICENSE = "MIT"

inherit core-image

IMAGE_INSTALL = "packagegroup-core-boot packagegroup-mypoll-test ${CORE_IMAGE_EXTRA_INSTALL}"
IMAGE_FEATURES += "ssh-server-dropbear"

TEST_SUITES = "ping ssh mypoll"
