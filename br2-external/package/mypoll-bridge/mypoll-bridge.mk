################################################################################
#
# mypoll-bridge
#
################################################################################

MYPOLL_BRIDGE_VERSION = 0.1
MYPOLL_BRIDGE_SITE = $(BR2_EXTERNAL_MYPOLL_PATH)/..
MYPOLL_BRIDGE_SITE_METHOD = local
# The site is the whole checkout: copy only what the Go build needs.
MYPOLL_BRIDGE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /br2-external --exclude /meta-mypoll --exclude /qemu \
	--exclude /tests --exclude /kmod --exclude /out --exclude /output
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
# Must be the module line of go.mod (the default is guessed from the site).
MYPOLL_BRIDGE_GOMOD = github.com/mypoll/mypoll
MYPOLL_BRIDGE_BUILD_TARGETS = daemon/cmd/mypoll-bridge
MYPOLL_BRIDGE_LDFLAGS = \
	-X github.com/mypoll/mypoll/daemon/internal/version.Version=$(MYPOLL_BRIDGE_VERSION)
MYPOLL_BRIDGE_TAGS = osusergo netgo
# Static: without this, cgo is on whenever the toolchain can link it.
MYPOLL_BRIDGE_GO_ENV = CGO_ENABLED=0

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

# Fail the build, rather than the board, if the binary is not static.
define MYPOLL_BRIDGE_CHECK_STATIC
	if $(TARGET_READELF) -l $(TARGET_DIR)/usr/bin/mypoll-bridge | grep -q INTERP; then \
		echo "mypoll-bridge: mypoll-bridge is dynamically linked"; exit 1; \
	fi
endef
MYPOLL_BRIDGE_POST_INSTALL_TARGET_HOOKS += MYPOLL_BRIDGE_CHECK_STATIC

$(eval $(golang-package))
