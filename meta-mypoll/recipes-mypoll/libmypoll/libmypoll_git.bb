SUMMARY = "libmypoll: C client library of the mypoll event daemon"
DESCRIPTION = "C99 client of the mypolld socket protocol: typed requests, \
events and loss reports as structs from the application's own poll loop, \
pipelining, and reconnect-and-resume from the last sequence number."
SECTION = "libs"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=d2fde95dc71d5511340a4a07927933ce"

require recipes-mypoll/include/mypoll-src.inc

SRC_URI = "${MYPOLL_GIT_URI}"
S = "${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX}"
B = "${WORKDIR}/build"

# libmypoll/Makefile takes CC, AR, CFLAGS and LDFLAGS from the environment
# bitbake exports. Without -Werror: a newer compiler's warning must not
# break a product build.
EXTRA_OEMAKE = "-C ${S}/libmypoll O=${B} PREFIX=${prefix} LIBDIR=${libdir} \
    INCLUDEDIR=${includedir} WERROR="

do_compile() {
	oe_runmake all
}

do_install() {
	oe_runmake install DESTDIR=${D}
}

# The default split is the one wanted: libmypoll.so.1* in ${PN};
# libmypoll.h, the libmypoll.so link and libmypoll.pc in ${PN}-dev;
# libmypoll.a in ${PN}-staticdev.
