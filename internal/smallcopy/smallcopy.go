// Package smallcopy copies small frames without a function call.
package smallcopy

import "unsafe"

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
	// Two checks prove the four moves in bounds (n >= 16, len(dst) >= n);
	// with each move's slices checked, the copy took three times the
	// instructions (TestCopy covers every length).
	_ = dst[n-1]
	s, d := unsafe.Pointer((*[16]byte)(src)), unsafe.Pointer(unsafe.SliceData(dst))
	o3 := uintptr(n - 16)
	o1, o2 := min(16, o3), min(32, o3)
	*(*[16]byte)(d) = *(*[16]byte)(s)
	*(*[16]byte)(unsafe.Add(d, o1)) = *(*[16]byte)(unsafe.Add(s, o1))
	*(*[16]byte)(unsafe.Add(d, o2)) = *(*[16]byte)(unsafe.Add(s, o2))
	*(*[16]byte)(unsafe.Add(d, o3)) = *(*[16]byte)(unsafe.Add(s, o3))
}
