# Benchmarks: the C baselines of mypollbench (daemon/cmd/mypollbench/cref/),
# built static for arm64 into the guest image, where the in-guest benchmark
# (make bench-guest) times the C reference daemon beside mypolld.
DEPS_APT += gcc-aarch64-linux-gnu

BENCH_CREF := daemon/cmd/mypollbench/cref
GUEST_BINS += $(OUT)/guest/mypollbench-lat $(OUT)/guest/mypollbench-crefd

$(OUT)/guest/mypollbench-lat $(OUT)/guest/mypollbench-crefd: $(OUT)/guest/mypollbench-%: $(BENCH_CREF)/%.c
	@mkdir -p $(@D)
	aarch64-linux-gnu-gcc -static -s -O2 -Wall -Wextra -Werror -o $@ $<
