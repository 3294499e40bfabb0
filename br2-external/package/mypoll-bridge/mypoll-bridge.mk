################################################################################
#
# mypoll-bridge
#
################################################################################

# Common Go settings (version, site, module, static build and its check):
# ../mypoll-go.mk.
MYPOLL_BRIDGE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude /qemu
MYPOLL_BRIDGE_LICENSE = MIT, BSD-3-Clause, BSD-2-Clause, EPL-2.0 or BSD-3-Clause
MYPOLL_BRIDGE_LICENSE_FILES = LICENSE \
	vendor/github.com/eclipse/paho.mqtt.golang/LICENSE \
	vendor/github.com/fatih/color/LICENSE.md \
	vendor/github.com/gorilla/websocket/LICENSE \
	vendor/github.com/hashicorp/go-hclog/LICENSE \
	vendor/github.com/mattn/go-colorable/LICENSE \
	vendor/github.com/mattn/go-isatty/LICENSE \
	vendor/golang.org/x/net/LICENSE \
	vendor/golang.org/x/sync/LICENSE \
	vendor/golang.org/x/sys/LICENSE
MYPOLL_BRIDGE_BUILD_TARGETS = daemon/cmd/mypoll-bridge

# The bridge runs as user mypoll-bridge, in group mypoll (connect and
# subscribe). For remote control commands (--allow-commands trigger,...)
# add mypoll-ctl to its groups (README.md).
define MYPOLL_BRIDGE_USERS
	mypoll-bridge -1 mypoll-bridge -1 * - - mypoll mypoll MQTT bridge
endef

define MYPOLL_BRIDGE_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(@D)/init/sysv/S60mypoll-bridge \
		$(TARGET_DIR)/etc/init.d/S60mypoll-bridge
endef

define MYPOLL_BRIDGE_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/init/systemd/mypoll-bridge.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mypoll-bridge.service
endef

define MYPOLL_BRIDGE_INSTALL_DEFAULTS
	$(INSTALL) -D -m 0644 $(@D)/init/default/mypoll-bridge \
		$(TARGET_DIR)/etc/default/mypoll-bridge
endef
MYPOLL_BRIDGE_POST_INSTALL_TARGET_HOOKS += MYPOLL_BRIDGE_INSTALL_DEFAULTS

$(eval $(call mypoll-go-package,MYPOLL_BRIDGE))
$(eval $(golang-package))
