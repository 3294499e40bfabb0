# Packaging: Buildroot external tree (br2-external/), Yocto layer
# (meta-mypoll/) and the init files both use (init/). Checks that need no
# Buildroot/OpenEmbedded tree; the upstream ones are in the two READMEs.
DEPS_APT += shellcheck systemd git busybox

PKG_OUT := $(OUT)/pkg

LINT_TARGETS += lint-pkg
TEST_TARGETS += test-pkg

.PHONY: test-pkg lint-pkg

## test-pkg: packaging checks: shellcheck, systemd-analyze verify and security (exposure gates), ./packaging (go.mod, vendor, paths, licences, users, SysV scripts under BusyBox)
test-pkg: lint-pkg
	$(GO) test -count=1 ./packaging/

## lint-pkg: shellcheck of the packaging's shell scripts and scripts/*.sh, systemd-analyze verify and security of the units
lint-pkg:
	sh scripts/pkg-check.sh shellcheck $(PKG_OUT)
	sh scripts/pkg-check.sh units $(PKG_OUT)
	sh scripts/pkg-check.sh security $(PKG_OUT)
