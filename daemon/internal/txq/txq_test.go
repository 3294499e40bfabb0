package txq_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/mypoll/mypoll/daemon/internal/txq"
)

// check fails unless q holds exactly the bytes of model.
func check(t testing.TB, q *txq.Queue, model []byte) {
	t.Helper()
	a, b := q.Peek()
	if len(a) == 0 && len(b) != 0 {
		t.Fatalf("Peek() = %q, %q; first segment empty, second not", a, b)
	}
	got := append(append([]byte{}, a...), b...)
	if !bytes.Equal(got, model) {
		t.Fatalf("Peek() = %q + %q, want %q", a, b, model)
	}
	if q.Len() != len(model) || q.Free() != q.Cap()-len(model) {
		t.Fatalf("Len() = %d, Free() = %d; want %d, %d", q.Len(), q.Free(), len(model), q.Cap()-len(model))
	}
}

func TestQueue(t *testing.T) {
	type op struct {
		append  string // appended when consume is 0
		consume int
		ok      bool   // Append's result
		want    string // contents after the op
		wantA   string // first Peek segment after the op
	}
	for _, tc := range []struct {
		name string
		size int
		ops  []op
	}{
		{"fill exactly", 4, []op{
			{append: "ab", ok: true, want: "ab", wantA: "ab"},
			{append: "cd", ok: true, want: "abcd", wantA: "abcd"},
			{append: "e", ok: false, want: "abcd", wantA: "abcd"},
			{append: "", ok: true, want: "abcd", wantA: "abcd"},
		}},
		{"all or nothing", 4, []op{
			{append: "abc", ok: true, want: "abc", wantA: "abc"},
			{append: "de", ok: false, want: "abc", wantA: "abc"},
			{append: "d", ok: true, want: "abcd", wantA: "abcd"},
		}},
		{"wrap around", 5, []op{
			{append: "abcd", ok: true, want: "abcd", wantA: "abcd"},
			{consume: 3, want: "d", wantA: "d"},
			{append: "efgh", ok: true, want: "defgh", wantA: "de"},
			{consume: 2, want: "fgh", wantA: "fgh"},
			{append: "ij", ok: true, want: "fghij", wantA: "fghij"},
			{consume: 3, want: "ij", wantA: "ij"},
			{append: "klm", ok: true, want: "ijklm", wantA: "ij"},
			{consume: 4, want: "m", wantA: "m"},
		}},
		{"rewind when empty", 4, []op{
			{append: "abc", ok: true, want: "abc", wantA: "abc"},
			{consume: 3, want: "", wantA: ""},
			// Rewound to 0: four bytes fit in one segment, no wrap.
			{append: "wxyz", ok: true, want: "wxyz", wantA: "wxyz"},
		}},
		{"zero size", 0, []op{
			{append: "", ok: true, want: "", wantA: ""},
			{append: "a", ok: false, want: "", wantA: ""},
		}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			q := txq.New(tc.size)
			if q.Cap() != tc.size {
				t.Fatalf("New(%d).Cap() = %d", tc.size, q.Cap())
			}
			for i, o := range tc.ops {
				if o.consume > 0 {
					q.Consume(o.consume)
				} else if ok := q.Append([]byte(o.append)); ok != o.ok {
					t.Fatalf("op %d: Append(%q) = %v, want %v", i, o.append, ok, o.ok)
				}
				check(t, q, []byte(o.want))
				if a, _ := q.Peek(); string(a) != o.wantA {
					t.Fatalf("op %d: Peek() first segment = %q, want %q", i, a, o.wantA)
				}
			}
		})
	}
}

func TestQueue_ClearAndRead(t *testing.T) {
	q := txq.New(8)
	q.Append([]byte("abcdef"))
	q.Consume(5)
	q.Append([]byte("ghijk")) // wraps: "f" + "ghijk"
	p := make([]byte, 4)
	if n, err := q.Read(p); n != 4 || err != nil || string(p) != "fghi" {
		t.Fatalf("Read() = %d, %v, %q; want 4, nil, %q", n, err, p[:n], "fghi")
	}
	got, err := io.ReadAll(q)
	if err != nil || string(got) != "jk" {
		t.Fatalf("io.ReadAll() = %q, %v; want %q, nil", got, err, "jk")
	}
	if n, err := q.Read(p); n != 0 || err != io.EOF {
		t.Errorf("Read(empty) = %d, %v; want 0, EOF", n, err)
	}
	if n, err := q.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(empty, nil) = %d, %v; want 0, nil", n, err)
	}
	q.Append([]byte("abc"))
	q.Consume(1)
	q.Clear()
	check(t, q, nil)
	if !q.Append([]byte("12345678")) {
		t.Fatalf("Append(full capacity after Clear) = false")
	}
	if a, b := q.Peek(); string(a) != "12345678" || len(b) != 0 {
		t.Errorf("Peek() after Clear+Append = %q, %q; want one segment", a, b)
	}
}

func TestQueue_ConsumePanics(t *testing.T) {
	for _, n := range []int{-1, 4} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			q := txq.New(8)
			q.Append([]byte("abc"))
			defer func() {
				if recover() == nil {
					t.Errorf("Consume(%d) with Len 3 did not panic", n)
				}
			}()
			q.Consume(n)
		})
	}
}

// run applies the operations encoded in ops to a queue of size and to a
// slice model, checking they agree after each one.
func run(t testing.TB, size int, ops []byte) {
	q := txq.New(size)
	var model []byte
	var seq byte
	for i := 0; i+1 < len(ops); i += 2 {
		arg := int(ops[i+1])
		switch ops[i] % 4 {
		case 0, 1: // append arg bytes
			p := make([]byte, arg%(size+2))
			for j := range p {
				seq++
				p[j] = seq
			}
			fits := len(p) <= size-len(model)
			if ok := q.Append(p); ok != fits {
				t.Fatalf("Append(%d bytes) with %d of %d queued = %v, want %v", len(p), len(model), size, ok, fits)
			}
			if fits {
				model = append(model, p...)
			}
		case 2: // consume
			n := 0
			if len(model) > 0 {
				n = arg % (len(model) + 1)
			}
			q.Consume(n)
			model = model[n:]
		case 3: // read into a buffer of arg bytes, or clear
			if arg == 255 {
				q.Clear()
				model = nil
				break
			}
			p := make([]byte, arg%(size+2))
			n, err := q.Read(p)
			want := min(len(p), len(model))
			if n != want || !bytes.Equal(p[:n], model[:want]) || (err == io.EOF) != (len(model) == 0 && len(p) > 0) {
				t.Fatalf("Read(%d) = %d, %v, %q; want %d bytes %q", len(p), n, err, p[:n], want, model[:want])
			}
			model = model[n:]
		}
		check(t, q, model)
	}
}

func TestQueue_Model(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		size := rng.IntN(40)
		ops := make([]byte, 2*rng.IntN(200))
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		run(t, size, ops)
	}
}

func FuzzQueue(f *testing.F) {
	f.Add(byte(5), []byte{0, 4, 2, 3, 0, 4, 2, 2, 0, 2, 2, 3})
	f.Add(byte(4), []byte{0, 3, 2, 3, 0, 4, 3, 255, 0, 4, 3, 2})
	f.Add(byte(0), []byte{0, 0, 0, 1})
	f.Add(byte(64), []byte{1, 60, 2, 10, 1, 14, 3, 7, 2, 50})
	f.Fuzz(func(t *testing.T, size byte, ops []byte) {
		if len(ops) > 4096 {
			ops = ops[:4096]
		}
		run(t, int(size), ops)
	})
}

func TestQueue_Allocs(t *testing.T) {
	q := txq.New(64)
	p := []byte("0123456789abcdefghijklmnopqrstu")
	allocs := testing.AllocsPerRun(1000, func() {
		q.Append(p)
		a, b := q.Peek()
		q.Consume(len(a) + len(b) - 1) // leave one byte, so positions wrap
	})
	if allocs != 0 {
		t.Errorf("Append+Peek+Consume allocate %v times, want 0", allocs)
	}
}

// TestQueue_RewindKeepsFront checks the rewind directly: a queue that is
// flushed after every append keeps writing at the first byte of its buffer,
// however many bytes have passed through it.
func TestQueue_RewindKeepsFront(t *testing.T) {
	q := txq.New(4096)
	line := bytes.Repeat([]byte("y"), 100)
	q.Append(line)
	a, _ := q.Peek()
	front := &a[0]
	for i := range 100 {
		q.Append(line)
		if i%2 == 0 {
			q.Clear()
			q.Append(line)
		}
		a, b := q.Peek()
		if &a[0] != front || len(b) != 0 {
			t.Fatalf("after %d flushes the queued bytes start %p, want the buffer start %p", i, &a[0], front)
		}
		q.Consume(len(a))
	}
}

func BenchmarkQueue(b *testing.B) {
	line := bytes.Repeat([]byte("e"), 64)
	b.Run("txq", func(b *testing.B) {
		q := txq.New(64 << 10)
		b.SetBytes(int64(len(line)) * 32)
		for b.Loop() {
			for range 32 {
				q.Append(line)
			}
			a, c := q.Peek()
			q.Consume(len(a) + len(c))
		}
	})
	// Baseline: bytes.Buffer doing the same, in the same run.
	b.Run("bytes.Buffer", func(b *testing.B) {
		var buf bytes.Buffer
		b.SetBytes(int64(len(line)) * 32)
		for b.Loop() {
			for range 32 {
				buf.Write(line)
			}
			buf.Next(buf.Len())
		}
	})
}
