package txq

import "io"

// Queue is a fixed-capacity FIFO of bytes. The zero value has capacity 0;
// use New. It must be used by one goroutine at a time.
type Queue struct {
	buf []byte
	r   int // index of the first queued byte; 0 whenever the queue is empty
	n   int // count of queued bytes
}

// New returns an empty queue holding up to size bytes. It panics if size is
// negative.
func New(size int) *Queue {
	if size < 0 {
		panic("txq: negative size")
	}
	return &Queue{buf: make([]byte, size)}
}

// Len returns the count of queued bytes.
func (q *Queue) Len() int { return q.n }

// Cap returns the capacity fixed at New.
func (q *Queue) Cap() int { return len(q.buf) }

// Free returns how many more bytes fit.
func (q *Queue) Free() int { return len(q.buf) - q.n }

// Append queues all of p and returns true, or queues nothing and returns
// false when p does not fit in Free.
func (q *Queue) Append(p []byte) bool {
	if len(p) > q.Free() {
		return false
	}
	w := q.r + q.n
	if w >= len(q.buf) {
		w -= len(q.buf)
	}
	c := copy(q.buf[w:], p)
	copy(q.buf, p[c:])
	q.n += len(p)
	return true
}

// Peek returns the queued bytes as at most two contiguous segments, a then
// b (b is empty unless the bytes wrap around the end of the buffer). They
// alias the queue and stay valid until the next Append, Consume or Clear.
func (q *Queue) Peek() (a, b []byte) {
	end := q.r + q.n
	if end <= len(q.buf) {
		return q.buf[q.r:end], nil
	}
	return q.buf[q.r:], q.buf[:end-len(q.buf)]
}

// Consume drops the first n queued bytes. It panics unless 0 <= n <= Len:
// a caller consuming more than it peeked has a bug.
func (q *Queue) Consume(n int) {
	if n < 0 || n > q.n {
		panic("txq: consume out of range")
	}
	q.n -= n
	if q.n == 0 {
		q.r = 0
		return
	}
	q.r += n
	if q.r >= len(q.buf) {
		q.r -= len(q.buf)
	}
}

// Clear drops every queued byte.
func (q *Queue) Clear() {
	q.r, q.n = 0, 0
}

// Read moves up to len(p) queued bytes into p (io.Reader). It returns
// (0, io.EOF) when the queue is empty and p is not.
func (q *Queue) Read(p []byte) (int, error) {
	if q.n == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	a, b := q.Peek()
	n := copy(p, a)
	n += copy(p[n:], b)
	q.Consume(n)
	return n, nil
}
