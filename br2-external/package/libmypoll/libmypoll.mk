################################################################################
#
# libmypoll
#
################################################################################

LIBMYPOLL_VERSION = 0.1
LIBMYPOLL_SITE = $(BR2_EXTERNAL_MYPOLL_PATH)/..
LIBMYPOLL_SITE_METHOD = local
# The site is the whole checkout (for LICENSE): copy only the library.
LIBMYPOLL_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /br2-external --exclude /meta-mypoll --exclude /qemu \
	--exclude /tests --exclude /kmod --exclude /out --exclude /output \
	--exclude /vendor --exclude /daemon --exclude /client
LIBMYPOLL_LICENSE = MIT
LIBMYPOLL_LICENSE_FILES = LICENSE
LIBMYPOLL_INSTALL_STAGING = YES

# libmypoll/Makefile takes CC, AR, CFLAGS and LDFLAGS from
# TARGET_CONFIGURE_OPTS; -Werror is for the project's CI, not for every
# toolchain a product uses.
LIBMYPOLL_MAKE_OPTS = \
	$(TARGET_CONFIGURE_OPTS) \
	O=$(@D)/libmypoll/build \
	PREFIX=/usr \
	WERROR=

ifeq ($(BR2_STATIC_LIBS),y)
LIBMYPOLL_MAKE_OPTS += LIBKINDS=static
else ifeq ($(BR2_SHARED_LIBS),y)
LIBMYPOLL_MAKE_OPTS += LIBKINDS=shared
endif

define LIBMYPOLL_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D)/libmypoll $(LIBMYPOLL_MAKE_OPTS) all
endef

# Staging gets the header, the libraries and libmypoll.pc (prefix=/usr,
# which pkg-config prefixes with the staging sysroot for dependents).
define LIBMYPOLL_INSTALL_STAGING_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D)/libmypoll $(LIBMYPOLL_MAKE_OPTS) \
		DESTDIR=$(STAGING_DIR) install
endef

# The target gets the same; target-finalize drops the header, .a and .pc.
define LIBMYPOLL_INSTALL_TARGET_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D)/libmypoll $(LIBMYPOLL_MAKE_OPTS) \
		DESTDIR=$(TARGET_DIR) install
endef

$(eval $(generic-package))
