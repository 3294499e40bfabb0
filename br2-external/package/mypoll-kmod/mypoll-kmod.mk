################################################################################
#
# mypoll-kmod
#
################################################################################

MYPOLL_KMOD_VERSION = 0.1
MYPOLL_KMOD_SITE = $(BR2_EXTERNAL_MYPOLL_PATH)/../kmod
MYPOLL_KMOD_SITE_METHOD = local
MYPOLL_KMOD_LICENSE = GPL-2.0
MYPOLL_KMOD_LICENSE_FILES = mypoll.c
MYPOLL_KMOD_INIT_DIR = $(BR2_EXTERNAL_MYPOLL_PATH)/../init

# Buildroot has no module autoload: systemd-modules-load reads this file;
# under SysV init, S50mypolld runs modprobe.
define MYPOLL_KMOD_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(MYPOLL_KMOD_INIT_DIR)/modules-load.d/mypoll.conf \
		$(TARGET_DIR)/usr/lib/modules-load.d/mypoll.conf
endef

$(eval $(kernel-module))
$(eval $(generic-package))
