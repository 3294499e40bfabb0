# libmypoll: the C client library (libmypoll/), its tests against a real
# mypolld, its fuzz target, the arm64 examples for the guest image and the
# C-subscriber benchmark. The library's own build is libmypoll/Makefile (the
# Buildroot and Yocto packages use it too); this fragment drives it.
DEPS_APT += gcc g++ clang libclang-rt-14-dev binutils pkgconf gcc-aarch64-linux-gnu libc6-dev-arm64-cross

LMP_OUT     := $(OUT)/libmypoll
LMP_SRCS    := $(wildcard libmypoll/src/*.c libmypoll/src/*.h libmypoll/include/*.h libmypoll/examples/*.c) \
	       libmypoll/Makefile libmypoll/libmypoll.pc.in
LMP_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LMP_TCFLAGS := -std=c99 -g -O1 -Wall -Wextra -Werror -pthread -Ilibmypoll/include -DMYPOLL_BUILD
LMP_LIBSRC  := libmypoll/src/mypoll.c libmypoll/src/line.c
# The C tests count the library's allocations (test no_alloc_hot_path).
LMP_WRAP    := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
# libFuzzer executions per `make test-libmypoll` (about 10 s on one core).
LMP_FUZZ_RUNS ?= 100000
LMP_CROSS   ?= aarch64-linux-gnu-

GUEST_BINS    += $(OUT)/guest/mypoll-listen $(OUT)/guest/mypoll-trigger
TEST_TARGETS  += test-libmypoll
BENCH_TARGETS += bench-libmypoll

.PHONY: libmypoll test-libmypoll lmp-build lmp-symbols lmp-unit lmp-tsan lmp-fuzz lmp-pkgconfig lmp-readme bench-libmypoll

## libmypoll: the C library (static, shared, .pc) and its examples, in $(OUT)/libmypoll/gcc/
libmypoll: $(LMP_OUT)/gcc/libmypoll.so

$(LMP_OUT)/gcc/libmypoll.so: $(LMP_SRCS)
	$(MAKE) --no-print-directory -C libmypoll O=$(abspath $(LMP_OUT))/gcc CC=gcc all examples

# The daemon the C tests talk to (host build, cached by go build).
$(LMP_OUT)/mypolld: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 $(GO) build -trimpath -o $@ ./daemon/cmd/mypolld

## test-libmypoll: C library: gcc+clang -Werror builds, exported symbols, tests against mypolld and libFuzzer under ASan/UBSan, mypoll_wakeup() under TSan, pkg-config, README example
test-libmypoll: lmp-build lmp-symbols lmp-unit lmp-tsan lmp-fuzz lmp-pkgconfig lmp-readme

lmp-build: libmypoll
	$(MAKE) --no-print-directory -C libmypoll O=$(abspath $(LMP_OUT))/clang CC=clang all examples
	echo '#include <libmypoll.h>' | gcc -std=c99 -pedantic -Wall -Wextra -Werror -Ilibmypoll/include -fsyntax-only -x c -
	echo '#include <libmypoll.h>' | g++ -std=c++11 -pedantic -Wall -Wextra -Werror -Ilibmypoll/include -fsyntax-only -x c++ -

# Only mypoll_* may be exported, the soname carries the ABI major, and the
# exports are exactly libmypoll/abi.symbols: none removed, each new one listed.
lmp-symbols: libmypoll
	@so=$(LMP_OUT)/gcc/libmypoll.so; \
	  syms=$$(nm -D --defined-only $$so | awk '{ print $$3 }' | sort); \
	  bad=$$(echo "$$syms" | grep -v '^mypoll_'); \
	  [ -z "$$bad" ] || { echo "libmypoll.so exports more than mypoll_*:"; echo "$$bad"; exit 1; }; \
	  echo "$$syms" > $(LMP_OUT)/syms.have; \
	  grep -v '^#' libmypoll/abi.symbols | awk '{ print $$1 }' | sort > $(LMP_OUT)/syms.abi; \
	  gone=$$(comm -13 $(LMP_OUT)/syms.have $(LMP_OUT)/syms.abi); \
	  [ -z "$$gone" ] || { echo "libmypoll.so no longer exports (ABI break):"; echo "$$gone"; exit 1; }; \
	  new=$$(comm -23 $(LMP_OUT)/syms.have $(LMP_OUT)/syms.abi); \
	  [ -z "$$new" ] || { echo "libmypoll.so exports symbols missing from libmypoll/abi.symbols:"; echo "$$new"; exit 1; }; \
	  readelf -d $$so | grep -q 'SONAME.*\[libmypoll\.so\.1\]' || { echo "libmypoll.so: soname is not libmypoll.so.1"; exit 1; }; \
	  echo "lmp-symbols: $$(echo "$$syms" | wc -l) symbols, all mypoll_* and in abi.symbols, soname libmypoll.so.1"

# The same tests built by gcc and by clang, each with ASan and UBSan.
lmp-unit: $(LMP_OUT)/mypolld
	gcc $(LMP_TCFLAGS) $(LMP_SAN) $(LMP_WRAP) -o $(LMP_OUT)/test_libmypoll $(LMP_LIBSRC) libmypoll/tests/test_libmypoll.c
	$(LMP_OUT)/test_libmypoll $(LMP_OUT)/mypolld
	clang $(LMP_TCFLAGS) $(LMP_SAN) $(LMP_WRAP) -o $(LMP_OUT)/test_libmypoll_clang $(LMP_LIBSRC) libmypoll/tests/test_libmypoll.c
	$(LMP_OUT)/test_libmypoll_clang $(LMP_OUT)/mypolld

# mypoll_wakeup() from other threads and a signal handler, under ThreadSanitizer
# (clang; the runtime is in libclang-rt-14-dev): any race report fails.
lmp-tsan: $(LMP_OUT)/mypolld
	clang $(LMP_TCFLAGS) -fsanitize=thread $(LMP_WRAP) -o $(LMP_OUT)/test_libmypoll_tsan $(LMP_LIBSRC) libmypoll/tests/test_libmypoll.c
	TSAN_OPTIONS=exitcode=66 $(LMP_OUT)/test_libmypoll_tsan $(LMP_OUT)/mypolld wakeup

# libFuzzer (clang) on the line parser and the receive path, from the seeds;
# then the same target as a bounded random-input test built with gcc.
lmp-fuzz:
	@mkdir -p $(LMP_OUT)/corpus
	cp libmypoll/tests/corpus/* $(LMP_OUT)/corpus/
	clang $(LMP_TCFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -o $(LMP_OUT)/fuzz_line $(LMP_LIBSRC) libmypoll/tests/fuzz_line.c
	@$(LMP_OUT)/fuzz_line -runs=$(LMP_FUZZ_RUNS) -max_len=4096 -print_final_stats=1 \
	  -artifact_prefix=$(LMP_OUT)/ $(LMP_OUT)/corpus > $(LMP_OUT)/fuzz.log 2>&1 || \
	  { tail -40 $(LMP_OUT)/fuzz.log; echo "lmp-fuzz: libFuzzer found a failure (input in $(LMP_OUT)/crash-*)"; exit 1; }
	@grep -E '^Done|number_of_executed_units' $(LMP_OUT)/fuzz.log
	gcc $(LMP_TCFLAGS) $(LMP_SAN) -DFUZZ_STANDALONE -o $(LMP_OUT)/fuzz_line_gcc $(LMP_LIBSRC) libmypoll/tests/fuzz_line.c
	$(LMP_OUT)/fuzz_line_gcc 5000 libmypoll/tests/corpus/*

# A dependent package's view: build with the default PREFIX, install into a
# sysroot with another one (the .pc must name the install's, issue 24), then
# build and run an example with only what pkg-config says, by the shared and
# the static command lines of docs/libmypoll.md.
lmp-pkgconfig: libmypoll
	rm -rf $(LMP_OUT)/sysroot
	$(MAKE) --no-print-directory -C libmypoll O=$(abspath $(LMP_OUT))/gcc CC=gcc install PREFIX=/opt/lmp DESTDIR=$(abspath $(LMP_OUT))/sysroot
	@sr=$(abspath $(LMP_OUT))/sysroot; \
	  export PKG_CONFIG_SYSROOT_DIR=$$sr PKG_CONFIG_LIBDIR=$$sr/opt/lmp/lib/pkgconfig; \
	  grep -qx 'prefix=/opt/lmp' $$sr/opt/lmp/lib/pkgconfig/libmypoll.pc || \
	    { echo "lmp-pkgconfig: libmypoll.pc does not name the install PREFIX:"; cat $$sr/opt/lmp/lib/pkgconfig/libmypoll.pc; exit 1; }; \
	  echo "pkg-config libmypoll: $$(pkg-config --cflags --libs libmypoll)"; \
	  grep '^cc app\.c ' docs/libmypoll.md | sed 's/ *#.*//' > $(LMP_OUT)/doc_cc.txt; \
	  [ $$(wc -l < $(LMP_OUT)/doc_cc.txt) = 2 ] || { echo "docs/libmypoll.md: want 2 'cc app.c' lines"; exit 1; }; \
	  i=0; while read -r line; do i=$$((i+1)); \
	    cmd=$$(echo "$$line" | sed "s|^cc app\.c|gcc -std=c99 -Wall -Wextra -Werror -o $(LMP_OUT)/doc_cc$$i libmypoll/examples/trigger.c|"); \
	    echo "$$cmd"; sh -c "$$cmd" || exit 1; \
	    LD_LIBRARY_PATH=$$sr/opt/lmp/lib $(LMP_OUT)/doc_cc$$i -s $(abspath $(LMP_OUT))/none.sock 2>&1 | grep -q 'connect .*none.sock' || \
	      { echo "lmp-pkgconfig: $(LMP_OUT)/doc_cc$$i does not run"; exit 1; }; \
	  done < $(LMP_OUT)/doc_cc.txt; \
	  readelf -d $(LMP_OUT)/doc_cc1 | grep -q 'NEEDED.*libmypoll\.so\.1' && \
	  ! readelf -d $(LMP_OUT)/doc_cc2 | grep -q 'NEEDED.*libmypoll' && \
	  echo "lmp-pkgconfig: the docs' shared and static lines build programs that run against libmypoll installed with PREFIX=/opt/lmp"

# The README's "C applications" example must be a complete program that builds,
# and so must the program of docs/libmypoll.md "Resuming after the application
# restarts".
lmp-readme: libmypoll
	@awk '/^## C applications/ { s = 1 } s && /^```c$$/ { c = 1; next } c && /^```$$/ { exit } c' README.md > $(LMP_OUT)/readme_example.c
	@test -s $(LMP_OUT)/readme_example.c || { echo "README.md: no C example under '## C applications'"; exit 1; }
	gcc -std=c99 -Wall -Wextra -Werror -Ilibmypoll/include -o $(LMP_OUT)/readme_example $(LMP_OUT)/readme_example.c $(LMP_OUT)/gcc/libmypoll.a
	@awk '/^## Resuming after the application restarts/ { s = 1 } s && /^```c$$/ { c = 1; next } c && /^```$$/ { exit } c' docs/libmypoll.md > $(LMP_OUT)/position_example.c
	@test -s $(LMP_OUT)/position_example.c || { echo "docs/libmypoll.md: no C example under '## Resuming after the application restarts'"; exit 1; }
	gcc -std=c99 -Wall -Wextra -Werror -Ilibmypoll/include -o $(LMP_OUT)/position_example $(LMP_OUT)/position_example.c $(LMP_OUT)/gcc/libmypoll.a

# The examples for the aarch64 guest, static (the image has no libc).
$(OUT)/guest/mypoll-listen $(OUT)/guest/mypoll-trigger: $(OUT)/guest/mypoll-%: FORCE
	@mkdir -p $(@D) $(LMP_OUT)/arm64
	$(MAKE) --no-print-directory -C libmypoll O=$(abspath $(LMP_OUT))/arm64 CC=$(LMP_CROSS)gcc AR=$(LMP_CROSS)ar \
	  LDFLAGS="-static -s" $(abspath $(LMP_OUT))/arm64/$*
	cp $(LMP_OUT)/arm64/$* $@

# The same for a 32-bit ARM kernel's image (mk/qemu.mk's arch_bins).
LMP_CROSS_ARM ?= arm-linux-gnueabihf-
DEPS_APT += gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
$(OUT)/guest/arm/mypoll-listen $(OUT)/guest/arm/mypoll-trigger: $(OUT)/guest/arm/mypoll-%: FORCE
	@mkdir -p $(@D) $(LMP_OUT)/arm
	$(MAKE) --no-print-directory -C libmypoll O=$(abspath $(LMP_OUT))/arm CC=$(LMP_CROSS_ARM)gcc AR=$(LMP_CROSS_ARM)ar \
	  LDFLAGS="-static -s" $(abspath $(LMP_OUT))/arm/$*
	cp $(LMP_OUT)/arm/$* $@

## bench-libmypoll: events/s 16 C subscribers (libmypoll) receive beside 16 Go client subscribers
bench-libmypoll: libmypoll $(LMP_OUT)/mypolld
	gcc -std=c99 -O2 -Wall -Wextra -Werror -Ilibmypoll/include -o $(LMP_OUT)/bench_sub libmypoll/tests/bench_sub.c $(LMP_OUT)/gcc/libmypoll.a
	$(GO) run ./libmypoll/bench -mypolld $(LMP_OUT)/mypolld -csub $(LMP_OUT)/bench_sub
