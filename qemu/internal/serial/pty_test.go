package serial

import (
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenPTY: bytes written on the master arrive on the slave opened by
// the returned path, in raw mode, unchanged.
func TestOpenPTY(t *testing.T) {
	m, slave, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := MakeRaw(s, DefaultBaud, false); err != nil {
		t.Fatal(err)
	}
	want := "a\r\nb\x00\x7f"
	if _, err := io.WriteString(m, want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("slave read %q, want %q", got, want)
	}
}
