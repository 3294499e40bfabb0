// Package txq is a fixed-size byte ring: a client's transmit queue. Bytes
// are appended whole or not at all, handed to writev as at most two
// contiguous segments, and consumed from the front. It never allocates after
// New, so a slow client costs a fixed amount of memory.
//
// When the queue empties it rewinds to the start of its buffer, so a queue
// that is flushed promptly only ever touches its first pages: the untouched
// rest of a large fresh allocation stays out of the resident set.
//
// It must not know sockets, fds, clients or the protocol; it does no I/O and
// no logging, and it is not safe for concurrent use.
package txq
