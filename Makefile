# mypoll: the entry points. `make run` boots the aarch64 image with the daemon
# and the module; `make test` runs every test tier. Both install what they need
# (see `make deps`). Each area adds its targets in mk/*.mk.

OUT     ?= out
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# The output dir holds a Debian chroot and kernel trees: a go.mod there makes
# it a module of its own, so the repository's `./...` patterns never walk it
# (5.8 s instead of 0.3 s per go command once the chroot exists).
$(shell mkdir -p $(OUT) && { test -f $(OUT)/go.mod || echo 'module mypoll.invalid/out' > $(OUT)/go.mod; })

# Filled in by the fragments.
DEPS_APT      :=
TEST_TARGETS  :=
LINT_TARGETS  :=
BENCH_TARGETS :=

.DEFAULT_GOAL := build

include $(sort $(wildcard mk/*.mk))

.PHONY: deps test lint bench clean help

## deps: install the Debian packages every target needs (as root; adds arm64)
deps:
	sh scripts/deps.sh $(sort $(DEPS_APT))

# Cheap tiers first, so a broken unit test fails before a VM boots.
TEST_ORDER := test-go test-bridge test-pkg test-libmypoll test-kmod test-qemu test-e2e

TEST_TIERS = $(filter $(TEST_TARGETS),$(TEST_ORDER)) $(filter-out $(TEST_ORDER),$(TEST_TARGETS))

## test: all tests (unit, fuzz seeds, kernel module, QEMU end to end, packaging), one tier after another, each tier's time printed
test: deps
	@set -e; all=$$(date +%s); for t in $(TEST_TIERS); do \
	  s=$$(date +%s); $(MAKE) --no-print-directory $$t; \
	  echo "make test: $$t passed in $$(( $$(date +%s) - s )) s (load $$(cut -d' ' -f1 /proc/loadavg))"; \
	done; echo "make test: all tiers passed in $$(( $$(date +%s) - all )) s"

## lint: gofmt, go vet (amd64 + arm64), checkpatch, shellcheck
lint: deps
	$(MAKE) --no-print-directory $(LINT_TARGETS)

## bench: benchmarks, printed as tables with ratios to raw baselines
bench: deps
	$(MAKE) --no-print-directory $(BENCH_TARGETS)

## clean: remove the build output directory
clean:
	rm -rf $(OUT)

## help: list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
