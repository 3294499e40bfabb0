// Package serial opens a tty as a raw byte line: the agent's UART in the
// guest (a board's PL011) and the harness's end of it on the host (a USB
// serial adapter, or the pty QEMU gives a UART). It knows termios, not the
// protocol that runs on the line.
package serial

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultBaud is the speed when a spec names none.
const DefaultBaud = 115200

// Spec is "/dev/TTY[@BAUD][,rtscts]".
type Spec struct {
	Path   string
	Baud   int
	RTSCTS bool
}

// ParseSpec parses "/dev/TTY[@BAUD][,rtscts]".
func ParseSpec(s string) (Spec, error) {
	p := Spec{Baud: DefaultBaud}
	path, opts, _ := strings.Cut(s, ",")
	path, baud, ok := strings.Cut(path, "@")
	if !strings.HasPrefix(path, "/") {
		return p, fmt.Errorf("serial line %q: want /dev/TTY[@BAUD][,rtscts]", s)
	}
	if ok {
		n, err := strconv.Atoi(baud)
		if err != nil || speeds[n] == 0 {
			return p, fmt.Errorf("serial line %q: unsupported speed %q", s, baud)
		}
		p.Baud = n
	}
	p.Path = path
	for o := range strings.SplitSeq(opts, ",") {
		switch o {
		case "":
		case "rtscts":
			p.RTSCTS = true
		default:
			return p, fmt.Errorf("serial line %q: unknown option %q (want rtscts)", s, o)
		}
	}
	return p, nil
}

func (p Spec) String() string {
	s := fmt.Sprintf("%s@%d", p.Path, p.Baud)
	if p.RTSCTS {
		s += ",rtscts"
	}
	return s
}

var speeds = map[int]uint32{
	9600: unix.B9600, 19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600,
	115200: unix.B115200, 230400: unix.B230400, 460800: unix.B460800, 500000: unix.B500000,
	576000: unix.B576000, 921600: unix.B921600, 1000000: unix.B1000000, 1152000: unix.B1152000,
	1500000: unix.B1500000, 2000000: unix.B2000000, 3000000: unix.B3000000, 4000000: unix.B4000000,
}

// Open opens the line (O_NOCTTY: never our controlling terminal) and puts
// it in raw mode. The file stays non-blocking, so read deadlines work.
func Open(p Spec) (*os.File, error) {
	f, err := os.OpenFile(p.Path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open serial line: %w", err)
	}
	if err := MakeRaw(f, p.Baud, p.RTSCTS); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// MakeRaw puts the tty in raw 8N1 mode at baud, with RTS/CTS flow control
// when rtscts: cfmakeraw(3) plus CLOCAL and CREAD, without HUPCL, VMIN 1.
// Bytes received before are dropped (they were cooked). It works through
// SyscallConn, which keeps the file non-blocking.
func MakeRaw(f *os.File, baud int, rtscts bool) error {
	speed := speeds[baud]
	if speed == 0 {
		return fmt.Errorf("unsupported speed %d", baud)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = fmt.Errorf("TCGETS %s: %w (not a tty?)", f.Name(), err)
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CBAUD | unix.CRTSCTS | unix.HUPCL
		t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | speed
		if rtscts {
			t.Cflag |= unix.CRTSCTS
		}
		t.Ispeed, t.Ospeed = speed, speed
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, t); err != nil {
			ioErr = fmt.Errorf("TCSETS %s: %w", f.Name(), err)
			return
		}
		_ = unix.IoctlSetInt(int(fd), unix.TCFLSH, unix.TCIFLUSH)
	})
	if err != nil {
		return err
	}
	return ioErr
}
