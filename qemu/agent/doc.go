// Command mypoll-testagent is the guest side of the QEMU test harness. It
// serves the virtio-serial port named "mypoll.test": after a line handshake
// with a nonce it runs a yamux server whose streams are DIAL (proxy to a
// guest unix socket), EXEC, FILE, PUT, SIGNAL, KMSG, DAEMON, INSMOD, RMMOD,
// PING and POWEROFF (see qemu/internal/wire).
//
// As PID 1 of the test initramfs it also mounts the pseudo file systems,
// loads the modules listed in /etc/mypoll/modules.order and then
// /lib/modules/mypoll.ko, starts /bin/mypolld, reaps orphans and ignores
// signals. In a Buildroot or Yocto image it runs as an ordinary service
// (--service, or whenever it is not PID 1) and does none of that.
//
// It must not know the daemon's protocol or the tests: it moves bytes and
// runs programs.
package main
