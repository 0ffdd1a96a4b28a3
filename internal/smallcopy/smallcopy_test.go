package smallcopy

import (
	"bytes"
	"fmt"
	"testing"
)

// Copy copies every length it takes exactly, and writes nothing outside
// dst.
func TestCopy(t *testing.T) {
	for n := Min; n <= Max; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(n + i*7)
		}
		mem := bytes.Repeat([]byte{0xEE}, n+32)
		Copy(mem[16:16+n], src)
		if !bytes.Equal(mem[16:16+n], src) {
			t.Fatalf("%d bytes: copied %x, want %x", n, mem[16:16+n], src)
		}
		for i, b := range append(mem[:16:16], mem[16+n:]...) {
			if b != 0xEE {
				t.Fatalf("%d bytes: guard byte %d changed to %#x", n, i, b)
			}
		}
	}
}

// Copy is inlined and allocates nothing.
func TestCopyAllocatesNothing(t *testing.T) {
	src, dst := make([]byte, 60), make([]byte, 60)
	if n := testing.AllocsPerRun(100, func() { Copy(dst, src) }); n != 0 {
		t.Fatalf("%v allocations per copy", n)
	}
}

// Fits takes exactly Min to Max, whatever the sign.
func TestFits(t *testing.T) {
	for n := -70; n <= 200; n++ {
		if got, want := Fits(n), n >= Min && n <= Max; got != want {
			t.Fatalf("Fits(%d) = %v", n, got)
		}
	}
}

// Copy moves 16 bytes at offsets it computes from len(src) without a check
// per move: a dst shorter than src (even with the capacity to spare) or a
// src under 16 bytes must panic before anything is written.
func TestCopyChecksLengths(t *testing.T) {
	mustPanic := func(name string, dst, src []byte) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		Copy(dst, src)
	}
	for n := Min; n <= Max; n++ {
		mem := bytes.Repeat([]byte{0xEE}, n+32)
		mustPanic(fmt.Sprintf("%d bytes into %d", n, n-1), mem[:n-1], make([]byte, n))
		if !bytes.Equal(mem, bytes.Repeat([]byte{0xEE}, n+32)) {
			t.Fatalf("%d bytes into %d: wrote %x", n, n-1, mem)
		}
	}
	mustPanic("15 bytes", make([]byte, 64), make([]byte, 15))
	mustPanic("empty", make([]byte, 64), nil)
}
