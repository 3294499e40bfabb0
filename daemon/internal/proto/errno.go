package proto

// Errno is the error code of an ERR reply (PROTOCOL.md A.4).
type Errno uint8

// The error codes of the protocol. The zero Errno is not valid; AppendErr
// writes it as EIO.
const (
	EINVAL Errno = iota + 1 // bad arguments
	E2BIG                   // request too long
	EILSEQ                  // request not printable ASCII
	ENOSYS                  // unknown command
	EPERM                   // not allowed for this peer
	ENODEV                  // no event device
	EBUSY                   // timer already running
	ENOENT                  // timer not running
	EMFILE                  // too many clients
	EIO                     // device error
	ERANGE                  // subscribe from= beyond next_seq
)

var errnoNames = [...]string{
	EINVAL: "EINVAL",
	E2BIG:  "E2BIG",
	EILSEQ: "EILSEQ",
	ENOSYS: "ENOSYS",
	EPERM:  "EPERM",
	ENODEV: "ENODEV",
	EBUSY:  "EBUSY",
	ENOENT: "ENOENT",
	EMFILE: "EMFILE",
	EIO:    "EIO",
	ERANGE: "ERANGE",
}

// errnoText is the message AppendErr writes when Error.Msg is empty.
var errnoText = [...]string{
	EINVAL: "invalid argument",
	E2BIG:  "request too long",
	EILSEQ: "request is not printable ASCII",
	ENOSYS: "unknown command",
	EPERM:  "not allowed",
	ENODEV: "no event device",
	EBUSY:  "timer already running",
	ENOENT: "timer not running",
	EMFILE: "too many clients",
	EIO:    "device error",
	ERANGE: "from= beyond next_seq",
}

// String returns the wire name of e ("EINVAL"), or "EIO" for an invalid value.
func (e Errno) String() string {
	if int(e) < len(errnoNames) && errnoNames[e] != "" {
		return errnoNames[e]
	}
	return "EIO"
}

// Error is a request that gets an ERR reply: "ERR <verb> <ERRNO> <msg>".
type Error struct {
	// Verb is the request's first token, truncated to 32 bytes, or nil
	// when there is none (written as "-"). It may alias the request line.
	Verb []byte
	// Errno is the error code.
	Errno Errno
	// Msg is human text for the peer; AppendErr replaces bytes that are not
	// printable ASCII, so peer text may appear here.
	Msg string
}

// Error returns the reply line without "ERR " and '\n', so *Error can be
// used as an error value.
func (e *Error) Error() string {
	b := AppendErr(nil, e)
	return string(b[len("ERR ") : len(b)-1])
}

// maxErrVerb is the longest verb echoed in an ERR line (PROTOCOL.md A.4).
const maxErrVerb = 32

func newError(verb []byte, errno Errno, msg string) *Error {
	if len(verb) > maxErrVerb {
		verb = verb[:maxErrVerb]
	}
	return &Error{Verb: verb, Errno: errno, Msg: msg}
}
