# Packaging: Buildroot external tree (br2-external/), Yocto layer
# (meta-mypoll/) and the init files both use (init/). Checks that need no
# Buildroot/OpenEmbedded tree; the upstream ones are in the two READMEs.
DEPS_APT += shellcheck systemd git busybox gcc-aarch64-linux-gnu make python3

PKG_OUT := $(OUT)/pkg

LINT_TARGETS += lint-pkg
TEST_TARGETS += test-pkg test-pkg-srcrev-kmod

.PHONY: test-pkg lint-pkg test-pkg-srcrev-kmod

## test-pkg: packaging checks (the module at the Yocto SRCREV: test-pkg-srcrev-kmod): shellcheck, systemd-analyze verify and security (exposure gates), ./packaging (go.mod, vendor, paths, licences, users, SysV scripts under BusyBox)
test-pkg: lint-pkg
	$(GO) test -count=1 ./packaging/

# The Yocto recipes build the commit SRCREV names (TestYocto_Srcrev* in
# ./packaging: paths, Go binaries, libmypoll). Its module is built against
# the newest kernel of the matrix by this target, which is not in
# TEST_ORDER, so `make test` runs it after test-kmod has fetched the kernel.
## test-pkg-srcrev-kmod: the module at the Yocto recipes' SRCREV builds against the newest kernel (KERNEL_NEWEST)
test-pkg-srcrev-kmod: $(call kenv,$(KERNEL_NEWEST))
	MYPOLL_SRCREV_KENV=$(abspath $<) $(GO) test -count=1 -v -run '^TestYocto_SrcrevBuilds$$/^kmod$$' ./packaging/

## lint-pkg: shellcheck of the packaging's shell scripts and scripts/*.sh, systemd-analyze verify and security of the units
lint-pkg:
	sh scripts/pkg-check.sh shellcheck $(PKG_OUT)
	sh scripts/pkg-check.sh units $(PKG_OUT)
	sh scripts/pkg-check.sh security $(PKG_OUT)
