################################################################################
#
# mypoll-testagent
#
################################################################################

# Common Go settings (version, site, module, static build and its check):
# ../mypoll-go.mk. The agent is built from qemu/agent.
MYPOLL_TESTAGENT_LICENSE = MIT
MYPOLL_TESTAGENT_LICENSE_FILES = LICENSE
MYPOLL_TESTAGENT_BUILD_TARGETS = qemu/agent
MYPOLL_TESTAGENT_BIN_NAME = mypoll-testagent

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

$(eval $(call mypoll-go-package,MYPOLL_TESTAGENT))
$(eval $(golang-package))
