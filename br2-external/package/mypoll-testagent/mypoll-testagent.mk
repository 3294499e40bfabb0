################################################################################
#
# mypoll-testagent
#
################################################################################

MYPOLL_TESTAGENT_VERSION = 0.1
MYPOLL_TESTAGENT_SITE = $(BR2_EXTERNAL_MYPOLL_PATH)/..
MYPOLL_TESTAGENT_SITE_METHOD = local
MYPOLL_TESTAGENT_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /br2-external --exclude /meta-mypoll --exclude /tests \
	--exclude /kmod --exclude /out --exclude /output
MYPOLL_TESTAGENT_LICENSE = MIT
MYPOLL_TESTAGENT_LICENSE_FILES = LICENSE
MYPOLL_TESTAGENT_GOMOD = github.com/mypoll/mypoll
MYPOLL_TESTAGENT_BUILD_TARGETS = qemu/agent
MYPOLL_TESTAGENT_BIN_NAME = mypoll-testagent
MYPOLL_TESTAGENT_LDFLAGS = \
	-X github.com/mypoll/mypoll/daemon/internal/version.Version=$(MYPOLL_TESTAGENT_VERSION)
MYPOLL_TESTAGENT_TAGS = osusergo netgo
MYPOLL_TESTAGENT_GO_ENV = CGO_ENABLED=0

define MYPOLL_TESTAGENT_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(@D)/init/sysv/S99mypoll-testagent \
		$(TARGET_DIR)/etc/init.d/S99mypoll-testagent
endef

define MYPOLL_TESTAGENT_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/init/systemd/mypoll-testagent.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mypoll-testagent.service
	$(INSTALL) -D -m 0644 $(@D)/init/udev/90-mypoll-testagent.rules \
		$(TARGET_DIR)/usr/lib/udev/rules.d/90-mypoll-testagent.rules
endef

$(eval $(golang-package))
