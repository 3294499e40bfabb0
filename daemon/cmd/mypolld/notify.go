package main

import (
	"net"
	"os"
)

// notify sends one sd_notify(3) state line to $NOTIFY_SOCKET, if set. An
// abstract socket name starts with '@'. It does nothing without systemd.
func notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}
