################################################################################
#
# mypoll-go
#
################################################################################

# What every Go package of this tree shares, as Buildroot's own shared
# package settings (package/qt6/qt6.mk): external.mk includes this file
# before the packages. A Go package's .mk sets what differs (its
# _BUILD_TARGETS, licences, users, init scripts), then calls
#	$(eval $(call mypoll-go-package,<PREFIX>))
#	$(eval $(golang-package))
# which gives it:
#  - the version, and the site: this checkout, copied without what no Go
#    build needs (a package adds --exclude /qemu when it does not need it);
#  - _GOMOD, the module line of go.mod (the infra guesses it from the site
#    otherwise), and -X of the version into the binary;
#  - a static build (without CGO_ENABLED=0, cgo is on whenever the
#    toolchain can link it), and MYPOLL_GO_CHECK_STATIC after installing.
define mypoll-go-package
	$(1)_VERSION = 0.1
	$(1)_SITE = $$(BR2_EXTERNAL_MYPOLL_PATH)/..
	$(1)_SITE_METHOD = local
	$(1)_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS += \
		--exclude /br2-external --exclude /meta-mypoll --exclude /tests \
		--exclude /kmod --exclude /out --exclude /output
	$(1)_GOMOD = github.com/mypoll/mypoll
	$(1)_LDFLAGS = \
		-X github.com/mypoll/mypoll/daemon/internal/version.Version=$$($(1)_VERSION)
	$(1)_TAGS = osusergo netgo
	$(1)_GO_ENV = CGO_ENABLED=0
	$(1)_POST_INSTALL_TARGET_HOOKS += MYPOLL_GO_CHECK_STATIC
endef

# Fail the build, rather than the board, if a binary the package installs
# is not static. A hook runs with PKG set to the package's prefix
# (package/pkg-generic.mk).
define MYPOLL_GO_CHECK_STATIC
	for b in $($(PKG)_INSTALL_BINS); do \
		if $(TARGET_READELF) -l $(TARGET_DIR)/usr/bin/$$b | grep -q INTERP; then \
			echo "$($(PKG)_NAME): $$b is dynamically linked"; exit 1; \
		fi; \
	done
endef
