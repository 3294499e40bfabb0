# The debug-kernel tier (issue 20): Debian's kernels have lockdep, KASAN and
# KCSAN off, so two arm64 kernels are built from bookworm's linux-source-6.1
# (scripts/debug-kernel-build.sh, config fragments in qemu/debug-kernel/):
# debug-kasan (PROVE_LOCKING, DEBUG_ATOMIC_SLEEP, KASAN) and debug-kcsan
# (KCSAN, DEBUG_ATOMIC_SLEEP; KCSAN excludes KASAN). mypoll.ko is built
# against each (W=1) and the module's conformance and torture suites run on
# it exactly as test-kmod-vm-<kernel> does; the harness's kernel-log check
# fails on any lockdep, KASAN or KCSAN report. Not part of `make test`: one
# cold kernel build took 44 minutes (-j2, 2 shared cores), two of them do not
# fit the 30-minute budget (README, "Debug kernels").
DEPS_APT += gcc-aarch64-linux-gnu make bc bison flex libelf-dev libssl-dev xz-utils dpkg-dev qemu-system-arm

DEBUG_KERNELS := debug-kasan debug-kcsan
# mk/kmod.mk and mk/qemu.mk (read after this file) define the module, image
# and test-kmod-vm-<kernel> rules for these too.
KERNELS_EXTRA += $(DEBUG_KERNELS)
# The suites run several times slower on the instrumented kernels under TCG.
KTEST_TIMEOUT_debug-kasan := 60m
KTEST_TIMEOUT_debug-kcsan := 60m
# The kernel log must show that the checkers run (their boot banners: a
# larger log buffer keeps them), besides holding no report.
KTEST_ENV_debug-kasan := MYPOLL_APPEND=log_buf_len=4M \
	MYPOLL_KLOG_WANT='Lock dependency validator|KernelAddressSanitizer initialized (generic)'
KTEST_ENV_debug-kcsan := MYPOLL_APPEND=log_buf_len=4M MYPOLL_KLOG_WANT='kcsan: enabled early'
DEBUGK_JOBS ?= $(shell nproc)

.PHONY: debug-kernels test-debug-kernel

## debug-kernels: build the arm64 debug kernels (lockdep+KASAN, KCSAN) from linux-source-6.1, cached by version and config
debug-kernels: $(foreach k,$(DEBUG_KERNELS),$(OUT)/kernel/$(k)/kernel.env)

# Re-checked on every run (cheap once built); kernel.env is rewritten only
# when the kernel changed.
$(OUT)/kernel/debug-%/kernel.env: FORCE
	DEBUGK_JOBS=$(DEBUGK_JOBS) sh scripts/debug-kernel-build.sh $(OUT) $*

## test-debug-kernel: the module's suites on the lockdep+KASAN and KCSAN kernels; any report fails (not in test: cold kernel builds ~45 min each on 2 cores)
test-debug-kernel: deps
	$(MAKE) --no-print-directory $(addprefix test-kmod-vm-,$(DEBUG_KERNELS))
