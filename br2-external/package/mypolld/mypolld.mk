################################################################################
#
# mypolld
#
################################################################################

MYPOLLD_VERSION = 0.1
MYPOLLD_SITE = $(BR2_EXTERNAL_MYPOLL_PATH)/..
MYPOLLD_SITE_METHOD = local
# The site is the whole checkout: copy only what the Go build needs.
MYPOLLD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /br2-external --exclude /meta-mypoll --exclude /qemu \
	--exclude /tests --exclude /kmod --exclude /out --exclude /output
MYPOLLD_LICENSE = MIT
MYPOLLD_LICENSE_FILES = LICENSE
# Must be the module line of go.mod (the default is guessed from the site).
MYPOLLD_GOMOD = github.com/mypoll/mypoll
MYPOLLD_BUILD_TARGETS = daemon/cmd/mypolld daemon/cmd/mypollctl
MYPOLLD_LDFLAGS = \
	-X github.com/mypoll/mypoll/daemon/internal/version.Version=$(MYPOLLD_VERSION)
MYPOLLD_TAGS = osusergo netgo
# Static: without this, cgo is on whenever the toolchain can link it.
MYPOLLD_GO_ENV = CGO_ENABLED=0

# mypolld runs as user mypoll (group mypoll, which may connect to the
# socket and subscribe); members of mypoll-ctl may also control the daemon
# (--control-group mypoll-ctl in /etc/default/mypolld).
define MYPOLLD_USERS
	mypoll -1 mypoll -1 * - - - mypoll daemon
	- - mypoll-ctl -1 * - - - mypoll control requests
endef

define MYPOLLD_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(@D)/init/sysv/S50mypolld \
		$(TARGET_DIR)/etc/init.d/S50mypolld
endef

define MYPOLLD_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/init/systemd/mypolld.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mypolld.service
	$(INSTALL) -D -m 0644 $(@D)/init/systemd/mypolld.socket \
		$(TARGET_DIR)/usr/lib/systemd/system/mypolld.socket
endef

# /dev/mypoll: group mypoll, mode 0660 under udev (systemd or eudev); the
# SysV script does the same without udev, and mdev needs a line in
# /etc/mdev.conf (README.md).
define MYPOLLD_INSTALL_UDEV
	$(INSTALL) -D -m 0644 $(@D)/init/udev/60-mypoll.rules \
		$(TARGET_DIR)/usr/lib/udev/rules.d/60-mypoll.rules
endef
MYPOLLD_POST_INSTALL_TARGET_HOOKS += MYPOLLD_INSTALL_UDEV

define MYPOLLD_INSTALL_DEFAULTS
	$(INSTALL) -D -m 0644 $(@D)/init/default/mypolld \
		$(TARGET_DIR)/etc/default/mypolld
endef
MYPOLLD_POST_INSTALL_TARGET_HOOKS += MYPOLLD_INSTALL_DEFAULTS

# Fail the build, rather than the board, if a binary is not static.
define MYPOLLD_CHECK_STATIC
	for b in mypolld mypollctl; do \
		if $(TARGET_READELF) -l $(TARGET_DIR)/usr/bin/$$b | grep -q INTERP; then \
			echo "mypolld: $$b is dynamically linked"; exit 1; \
		fi; \
	done
endef
MYPOLLD_POST_INSTALL_TARGET_HOOKS += MYPOLLD_CHECK_STATIC

$(eval $(golang-package))
