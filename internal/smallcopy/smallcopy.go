// Package smallcopy copies small frames without a function call.
package smallcopy

// Min and Max bound the lengths Copy takes.
const (
	Min = 16
	Max = 64
)

// Fits reports whether Copy takes an n-byte frame: Min <= n <= Max, in
// one unsigned comparison.
func Fits(n int) bool { return uint(n-Min) <= Max-Min }

// Copy copies src, Min to Max bytes (Fits), into dst, which has its length, in
// four overlapping 16-byte moves. Hot loops use it for small frames
// instead of copy: it is inlined, where memmove is a call, and Go keeps
// no register across a call, so the call costs the loop a spill and a
// reload of its state per frame (ring's burst loops, C2S 64 B: 48-51 ->
// 53-59 Mpps; memifdump's records).
func Copy(dst, src []byte) {
	n := len(src)
	*(*[16]byte)(dst[0:]) = *(*[16]byte)(src[0:])
	*(*[16]byte)(dst[min(16, n-16):]) = *(*[16]byte)(src[min(16, n-16):])
	*(*[16]byte)(dst[min(32, n-16):]) = *(*[16]byte)(src[min(32, n-16):])
	*(*[16]byte)(dst[n-16:]) = *(*[16]byte)(src[n-16:])
}
