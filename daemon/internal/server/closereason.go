package server

// closeReason is why the server closed a client; stats counts each
// (closed_<reason>=).
type closeReason uint8

const (
	closeEOF           closeReason = iota // the peer closed its end
	closeQuit                             // quit, once everything owed was sent
	closeHangup                           // EPOLLHUP
	closeSocketError                      // EPOLLERR
	closeReadError                        // recv failed
	closeWriteError                       // send failed
	closeReplyOverflow                    // a reply did not fit (a broken invariant)
	closeEvicted                          // too slow for --evict-after
	closeStopping                         // the daemon is stopping
	numCloseReasons
)

var closeNames = [numCloseReasons]string{
	closeEOF:           "eof",
	closeQuit:          "quit",
	closeHangup:        "hangup",
	closeSocketError:   "socket_error",
	closeReadError:     "read_error",
	closeWriteError:    "write_error",
	closeReplyOverflow: "reply_overflow",
	closeEvicted:       "evicted",
	closeStopping:      "stopping",
}

// closeStatKeys are the stats keys, "closed_<reason>".
var closeStatKeys = func() (k [numCloseReasons]string) {
	for r := range k {
		k[r] = "closed_" + closeNames[r]
	}
	return k
}()

func (r closeReason) String() string {
	if r < numCloseReasons {
		return closeNames[r]
	}
	return "unknown"
}
