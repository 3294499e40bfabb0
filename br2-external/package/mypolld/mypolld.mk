################################################################################
#
# mypolld
#
################################################################################

# Common Go settings (version, site, module, static build and its check):
# ../mypoll-go.mk. mypollctl is built and installed with the daemon.
MYPOLLD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude /qemu
MYPOLLD_LICENSE = MIT
MYPOLLD_LICENSE_FILES = LICENSE
MYPOLLD_BUILD_TARGETS = daemon/cmd/mypolld daemon/cmd/mypollctl

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

$(eval $(call mypoll-go-package,MYPOLLD))
$(eval $(golang-package))
