SUMMARY = "mypoll.ko: the /dev/mypoll event device"
DESCRIPTION = "Out-of-tree kernel module of mypoll: soft hrtimers and \
triggers feeding one sequenced ring, read through /dev/mypoll by mypolld."
SECTION = "kernel/modules"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://mypoll.c;beginline=1;endline=1;md5=50d2ba0afecd20f74c12a4bdbcfcfe61"

require recipes-mypoll/include/mypoll-src.inc

SRC_URI = "${MYPOLL_GIT_URI}"
S = "${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX}/kmod"

inherit module

# module.bbclass packages it as kernel-module-mypoll-<kernel version>, and
# kernel-module-split makes that package provide kernel-module-mypoll.
KERNEL_MODULE_AUTOLOAD += "mypoll"
