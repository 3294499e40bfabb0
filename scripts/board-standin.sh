#!/bin/sh
# board-standin.sh serial|tcp: start a QEMU guest that stands in for a board
# that already booted our image, run `make test-board TARGET=...` against it
# (the same code a real board gets, only the target string differs), then
# stop the guest.
#   serial: QEMU raspi3b booting out/board/rpi3/sdcard.img; the agent's
#           PL011 and the console's mini UART are host ptys (the console
#           also logged to a file, to wait for the agent before attaching):
#           TARGET=serial:/dev/pts/N@115200 CONSOLE=/dev/pts/M@115200
#   tcp:    QEMU virt (raspi3b has no network QEMU 7.2 can use without USB
#           networking in the image) with virtio-net and user networking;
#           the agent listens on 10.0.2.15:7000, forwarded to a loopback
#           port: TARGET=tcp:127.0.0.1:PORT
# Environment: OUT (out), MAKE (make), RUN (tests to run), KENV (kernel.env),
# NETIMAGE (the initramfs with virtio_net, tcp mode).
set -eu
mode=${1:?usage: board-standin.sh serial|tcp}
OUT=${OUT:-out}
MAKE=${MAKE:-make}
dir=$OUT/board/standin-$mode
rm -rf "$dir" && mkdir -p "$dir"
log=$dir/qemu.log
case $mode in
serial)
	b=$OUT/board/rpi3
	qemu-system-aarch64 -M raspi3b -display none -monitor none -no-reboot -net none \
		-kernel "$b/u-boot.bin" -dtb "$b/bcm2837-rpi-3-b.dtb" \
		-drive "if=sd,format=raw,snapshot=on,file=$b/sdcard.img" \
		-chardev pty,id=agent -serial chardev:agent \
		-chardev "pty,id=con,logfile=$dir/console.log" -serial chardev:con </dev/null >"$log" 2>&1 &
	;;
tcp)
	# shellcheck source=/dev/null
	. "./$KENV"
	port=$((20000 + $$ % 10000))
	qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -display none -monitor none -no-reboot \
		-kernel "$KIMAGE" -initrd "$NETIMAGE" \
		-append "console=ttyAMA0 panic=-1 loglevel=5 cryptomgr.notests mypolltest.port=tcp::7000 mypolltest.net=eth0,10.0.2.15/24" \
		-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-10.0.2.15:7000" \
		-device virtio-net-pci,netdev=n0 -serial "file:$dir/console.log" </dev/null >"$log" 2>&1 &
	;;
*)
	echo "usage: board-standin.sh serial|tcp" >&2
	exit 2
	;;
esac
qpid=$!
trap 'kill $qpid 2>/dev/null; wait $qpid 2>/dev/null || true' EXIT INT TERM
case $mode in
serial)
	i=0
	while ! grep -q 'label con' "$log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { cat "$log" >&2; exit 1; }
		sleep 0.1
	done
	agent=$(sed -n 's/.*redirected to \(\/dev\/pts\/[0-9]*\) (label agent).*/\1/p' "$log")
	con=$(sed -n 's/.*redirected to \(\/dev\/pts\/[0-9]*\) (label con).*/\1/p' "$log")
	target=serial:$agent@115200
	console=$con@115200
	# A board is attached once it booted (QEMU's PL011 can stall on a
	# backlog of HELLOs sent before Linux opened it: see qemu/board.go).
	i=0
	while ! grep -q 'agent: serving: port=' "$dir/console.log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 3000 ] || { echo "board-standin: the agent never served" >&2; exit 1; }
		sleep 0.1
	done
	;;
tcp)
	target=tcp:127.0.0.1:$port
	console=
	;;
esac
echo "board-standin $mode: QEMU pid $qpid, TARGET=$target${console:+ CONSOLE=$console}"
start=$(date +%s)
rc=0
$MAKE --no-print-directory test-board TARGET="$target" ${console:+CONSOLE="$console"} ${RUN:+RUN="$RUN"} >"$dir/test.log" 2>&1 || rc=$?
grep -E '^ *(--- |ok|FAIL|PASS)|agent ready|board without' "$dir/test.log" || true
echo "board-standin $mode: exit $rc in $(($(date +%s) - start)) s (log $dir/test.log), load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
