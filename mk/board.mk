# Boards: the SD card image of a board (make sdimage BOARD=rpi3), the raspi3b
# tier that boots it in QEMU, and make test-board against a board that runs
# our image (a real one, or the QEMU raspi3b standing in for it).
DEPS_APT += genimage dosfstools mtools e2fsprogs u-boot-rpi:arm64 device-tree-compiler cpio bc
# make test runs the stand-in: it boots the SD card on raspi3b (U-Boot
# first, the agent on the PL011) and runs the smoke and a resume test through
# make test-board, as a real board would; test-board-rpi3 (the harness owns
# that VM: FULL=1 runs all of tests/) is by hand, to keep CI short.
TEST_TARGETS += test-board-standin

BOARD     ?= rpi3
BOARD_DIR  = $(OUT)/board/$(BOARD)
SDIMAGE_INPUTS = kernel agent $(IMAGE_INPUTS) $(GUEST_BINS)

.PHONY: sdimage test-board-rpi3 test-board test-board-standin

## sdimage: the SD card image of BOARD (rpi3): $(OUT)/board/rpi3/sdcard.img plus the parts it was made from
sdimage: $(SDIMAGE_INPUTS)
	@mkdir -p $(BOARD_DIR)
	BOARD=$(BOARD) OUTDIR=$(BOARD_DIR) KENV=$(call kenv,bookworm) AGENT=$(AGENT) GO=$(GO) APPEND='$(SDAPPEND)' \
	  DAEMON=$$(test -f $(OUT)/bin/arm64/mypolld && echo $(OUT)/bin/arm64/mypolld) \
	  KMOD=$$(test -f $(call kmod_ko,bookworm) && echo $(call kmod_ko,bookworm)) \
	  BINS='$(strip $(GUEST_BINS))' sh scripts/sdimage.sh

# The tests of tests/ the rpi3 tier runs in CI (FULL=1: all of them).
BOARD_TESTS ?= ^(TestSmoke|TestDaemonCrashResume)$$
BOARD_RPI3_ENV = MYPOLL_REQUIRE_VM=1 MYPOLL_OUT=$(abspath $(OUT)) MYPOLL_MACHINE=raspi3b \
	  MYPOLL_KERNEL=$(abspath $(BOARD_DIR))/u-boot.bin MYPOLL_DTB=$(abspath $(BOARD_DIR))/bcm2837-rpi-3-b.dtb \
	  MYPOLL_SDCARD=$(abspath $(BOARD_DIR))/sdcard.img

## test-board-rpi3: boot the rpi3 SD image on QEMU raspi3b (U-Boot, agent on the PL011) and run the smoke and a resume test of tests/ (FULL=1: all)
test-board-rpi3: BOARD=rpi3
test-board-rpi3: sdimage
	@echo "test-board-rpi3: go test -v ./tests/ (log: $(OUT)/board/rpi3/test.log)"
	@start=$$(date +%s); $(BOARD_RPI3_ENV) $(GO) test -count=1 -timeout 30m -v $(if $(FULL),,-run '$(BOARD_TESTS)') ./tests/ >$(OUT)/board/rpi3/test.log 2>&1; rc=$$?; \
	  grep -E '^ *(--- |ok|FAIL|PASS)|guest ready' $(OUT)/board/rpi3/test.log; \
	  echo "test-board-rpi3: exit $$rc in $$(( $$(date +%s) - start )) s, load $$(cut -d' ' -f1-3 /proc/loadavg)"; exit $$rc

## test-board: tests/ against a board that booted our image: TARGET=serial:/dev/ttyUSB0@921600[,rtscts] | tcp:HOST:PORT [CONSOLE=/dev/ttyUSB1@115200] [POWER_CMD='...'] [RUN=regexp]
test-board: $(OUT)/guest/mypollprobe
	@[ -n "$(TARGET)" ] || { echo "usage: make test-board TARGET=serial:/dev/ttyUSB0@921600 | tcp:HOST:PORT [CONSOLE=...] [POWER_CMD=...]"; exit 2; }
	MYPOLL_REQUIRE_VM=1 MYPOLL_OUT=$(abspath $(OUT)) MYPOLL_TARGET='$(TARGET)' \
	  $(if $(CONSOLE),MYPOLL_CONSOLE='$(CONSOLE)') $(if $(POWER_CMD),MYPOLL_POWER_CMD='$(POWER_CMD)') \
	  $(GO) test -count=1 -timeout 30m -v $(if $(RUN),-run '$(RUN)') ./tests/

# The test-board path in CI, against QEMU standing in for a board that booted
# our image: raspi3b from the SD card over a UART (host pty), and virt over
# TCP (user networking). The board boots once; the tests attach in turn.
STANDIN_TESTS ?= ^(TestSmoke|TestDaemonCrashResume)$$
NET_IMAGE_DIR := $(OUT)/image-net

# The initramfs of the TCP stand-in: the image plus virtio_net.
$(NET_IMAGE_DIR)/current: kernel agent $(IMAGE_INPUTS) $(GUEST_BINS)
	$(GO) run ./qemu/image/cmd/mkimage -kernel-env $(call kenv,bookworm) -agent $(AGENT) -o $(NET_IMAGE_DIR) \
	  -modules virtio_pci,virtio_console,virtio_net \
	  $$(test -f $(OUT)/bin/arm64/mypolld && echo -daemon $(OUT)/bin/arm64/mypolld) \
	  $$(test -f $(call kmod_ko,bookworm) && echo -kmod $(call kmod_ko,bookworm)) \
	  -bins '$(strip $(GUEST_BINS))'

## test-board-standin: make test-board against QEMU standing in for a board: raspi3b over a UART, virt over TCP
test-board-standin: BOARD=rpi3
test-board-standin: sdimage $(NET_IMAGE_DIR)/current
	OUT=$(OUT) MAKE='$(MAKE)' RUN='$(STANDIN_TESTS)' sh scripts/board-standin.sh serial
	OUT=$(OUT) MAKE='$(MAKE)' RUN='$(STANDIN_TESTS)' KENV=$(call kenv,bookworm) \
	  NETIMAGE=$(abspath $(NET_IMAGE_DIR))/$$(cat $(NET_IMAGE_DIR)/current) sh scripts/board-standin.sh tcp
