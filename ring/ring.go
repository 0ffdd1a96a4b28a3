package ring

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/memifpcap/memifpcap/internal/atomicx"
)

// Offsets inside the ring header (memif.h memif_ring_t). The header's second cache line, holding tail, starts at
// cacheLine; the descriptors start at 2*cacheLine.
const (
	offCookie    = 0
	offFlagsHead = 4 // flags u16 @4 and head u16 @6 share this u32 word
)

// The ring lives in shared memory in host byte order (no peer converts). Go
// has no 16-bit atomics, so flags, head and tail are accessed through the u32
// words that contain them; which half of a word a u16 occupies depends on the
// host's byte order. Every deployed peer is little-endian, where flags is the
// low half of the word at offset 4, head its high half, and tail the low half
// of the word at cacheLine.
var (
	flagsShift, headShift, tailShift = halfShifts()
)

func halfShifts() (flags, head, tail uint) {
	var w [4]byte
	binary.NativeEndian.PutUint32(w[:], 0x0000ffff)
	if w[0] == 0xff { // little-endian: the lower address holds the low half
		return 0, 16, 0
	}
	return 16, 0, 16
}

// Ring is a view of one memif ring (header and descriptors) in shared memory.
// It does no bookkeeping of its own: the producer (Tx) and consumer (Rx) keep
// the private cursors. Several Ring values may view the same memory.
type Ring struct {
	// descs are the 1<<log2 descriptors, typed: Desc has memif_desc_t's
	// layout (flags u16 @0, region u16 @2, length u32 @4, offset u32 @8,
	// metadata u32 @12, 16 bytes, host byte order) on every Go
	// architecture, so a descriptor is read or written as one 16-byte value
	// instead of five byte-slice accesses with their bounds checks.
	descs []Desc

	// cookie is the u32 at offset 0, written once by the client.
	cookie *uint32
	// flagsHead is the u32 word at offset 4 holding flags (written by the
	// ring's consumer) and head (written by the client). On the C2S ring
	// those are two different processes, so neither may store the whole
	// word: each updates its own half with a compare-and-swap that keeps the
	// other half as it found it.
	flagsHead *uint32
	// tail is the u32 word at offset cacheLine. tail (written by the server)
	// is alone in it; the other half is padding nobody writes, so a plain
	// atomic store of the whole word is safe.
	tail *uint32

	mask uint16 // N-1
}

// NewRing returns a view of the ring whose header starts at mem[0]. mem must
// hold at least RingBytes(cacheLine, log2) bytes and be 4-byte aligned (a
// ring offset in an mmap'ed region is a multiple of 64, so it is).
func NewRing(mem []byte, cacheLine int, log2 uint8) (*Ring, error) {
	if cacheLine != 64 && cacheLine != 128 {
		return nil, fmt.Errorf("memif ring: cache line %d: must be 64 or 128", cacheLine)
	}
	if log2 < 1 || log2 > MaxLog2RingSize {
		return nil, fmt.Errorf("memif ring: log2 ring size %d: must be 1..%d", log2, MaxLog2RingSize)
	}
	need := RingBytes(cacheLine, log2)
	if len(mem) < need {
		return nil, fmt.Errorf("memif ring: %d bytes of memory, a ring of %d slots with a %d-byte cache line needs %d",
			len(mem), 1<<log2, cacheLine, need)
	}
	_ = mem[need-1] // the descriptors below are made from a pointer: prove they lie in mem
	if addr := uintptr(unsafe.Pointer(unsafe.SliceData(mem))); addr%4 != 0 {
		return nil, fmt.Errorf("memif ring: header at address %#x is not 4-byte aligned, so its words cannot be accessed atomically", addr)
	}
	return &Ring{
		descs:     unsafe.Slice((*Desc)(unsafe.Pointer(&mem[2*cacheLine])), 1<<log2),
		cookie:    (*uint32)(unsafe.Pointer(&mem[offCookie])),
		flagsHead: (*uint32)(unsafe.Pointer(&mem[offFlagsHead])),
		tail:      (*uint32)(unsafe.Pointer(&mem[cacheLine])),
		mask:      uint16(1)<<log2 - 1,
	}, nil
}

// Init prepares a fresh ring, as the client does before ADD_RING: cookie,
// flags 0, head 0, tail 0 and every descriptor zeroed. It must not be called
// while a peer uses the ring.
func (r *Ring) Init() {
	clear(r.descs)
	atomic.StoreUint32(r.flagsHead, 0)
	atomic.StoreUint32(r.tail, 0)
	// The cookie goes last: a server that checks it at CONNECT then sees
	// the rest initialised too.
	atomic.StoreUint32(r.cookie, Cookie)
}

// Size is the number of slots, N = 1<<log2.
func (r *Ring) Size() int { return int(r.mask) + 1 }

// Cookie returns the first word of the header; a valid ring holds Cookie.
func (r *Ring) Cookie() uint32 { return atomic.LoadUint32(r.cookie) }

// Flags returns the ring header flags (see RingFlagMaskInt).
func (r *Ring) Flags() uint16 {
	return uint16(atomic.LoadUint32(r.flagsHead) >> flagsShift)
}

// SetFlags stores the ring header flags. Only the ring's consumer writes
// them. The client may be storing head in the same word at the same time, so
// this is a compare-and-swap on the whole word that keeps head as it is.
func (r *Ring) SetFlags(f uint16) {
	r.storeHalf(flagsShift, f)
}

// Head returns head: the client's index (packets produced on C2S, buffers
// offered on S2C).
func (r *Ring) Head() uint16 {
	return uint16(atomic.LoadUint32(r.flagsHead) >> headShift)
}

// StoreHead publishes head. Only the client writes head. On the C2S ring the
// server may be storing flags in the same word at the same time, so this is a
// compare-and-swap on the whole word that keeps flags as they are.
func (r *Ring) StoreHead(h uint16) {
	r.storeHalf(headShift, h)
}

// storeHead is StoreHead returning the flags seen by the successful
// compare-and-swap, so that Tx.Publish learns MASK_INT without a second
// atomic access.
func (r *Ring) storeHead(h uint16) (flags uint16) {
	return uint16(r.storeHalf(headShift, h) >> flagsShift)
}

// releaseHead hands S2C slots back: the client, the ring's consumer, owns
// flags too, so nobody else writes the word, and a load and a release
// store (atomicx.StoreRelease32) replace the compare-and-swap, a locked
// instruction on a cache line the server reads.
func (r *Ring) releaseHead(h uint16) {
	old := atomic.LoadUint32(r.flagsHead)
	atomicx.StoreRelease32(r.flagsHead, old&^(0xffff<<headShift)|uint32(h)<<headShift)
}

// storeHalf replaces the u16 at shift in the flags/head word and returns the
// word it replaced. The loop only repeats when the peer wrote its half
// between our load and our swap.
func (r *Ring) storeHalf(shift uint, v uint16) (old uint32) {
	for {
		old = atomic.LoadUint32(r.flagsHead)
		w := old&^(0xffff<<shift) | uint32(v)<<shift
		if atomic.CompareAndSwapUint32(r.flagsHead, old, w) {
			return old
		}
	}
}

// Tail returns tail: the server's index (packets consumed on C2S, buffers
// filled on S2C).
func (r *Ring) Tail() uint16 {
	return uint16(atomic.LoadUint32(r.tail) >> tailShift)
}

// StoreTail publishes tail. Only the server writes tail, and nobody writes
// the padding that shares its word, so one atomic store suffices.
func (r *Ring) StoreTail(t uint16) {
	atomic.StoreUint32(r.tail, uint32(t)<<tailShift)
}

// releaseTail hands C2S slots back: the server, the ring's consumer,
// stores tail with a release store (atomicx.StoreRelease32), which does
// not stall for the store buffer as StoreTail's sequentially consistent
// store does.
func (r *Ring) releaseTail(t uint16) {
	atomicx.StoreRelease32(r.tail, uint32(t)<<tailShift)
}

// Desc is one 16-byte descriptor, laid out as memif_desc_t (see
// Ring.descs; TestDescLayout checks the offsets).
type Desc struct {
	Flags    uint16 // DescFlagNext: the packet continues in the next slot
	Region   uint16 // region holding the buffer
	Length   uint32 // data length; on an S2C slot offered by the client, its capacity
	Offset   uint32 // buffer start, from the region base
	Metadata uint32 // unused by every implementation
}

// slot returns the descriptor of index idx, a free-running counter: the
// slot is idx & (N-1).
func (r *Ring) slot(idx uint16) *Desc {
	return &r.descs[idx&r.mask]
}

// prefetchDescs asks for the lines of the k descriptors from index idx
// (k <= N) in a state this CPU can write, all at once, ahead of a writer
// that fills them without reading them first (a client's WriteBurst).
// The peer read them last, so each line must be taken from its CPU;
// left to the stores, those requests go one after another, as x86
// commits stores in order (memifperf C2S, 64 B: medians 47 -> 61 Mpps,
// ten alternating rounds). A reader that writes back what it read (the
// S2C server's Tx, the client's refill) gained nothing from it.
func (r *Ring) prefetchDescs(idx uint16, k int) {
	if !canPrefetchW {
		return
	}
	i := int(idx & r.mask)
	n := min(k, len(r.descs)-i)
	if n > 0 {
		prefetchW(unsafe.Pointer(&r.descs[i]), uintptr(n)*unsafe.Sizeof(Desc{}))
	}
	if k > n {
		prefetchW(unsafe.Pointer(&r.descs[0]), uintptr(k-n)*unsafe.Sizeof(Desc{}))
	}
}

// Desc reads the descriptor of index idx. The peer may write it
// concurrently; callers read it once and validate the copy.
func (r *Ring) Desc(idx uint16) Desc {
	return *r.slot(idx)
}

// SetDesc writes the whole descriptor of index idx.
func (r *Ring) SetDesc(idx uint16, d Desc) {
	*r.slot(idx) = d
}

// setFlagsLength writes only flags and length, as a server filling an S2C
// slot must: region and offset belong to the client.
func (r *Ring) setFlagsLength(idx uint16, flags uint16, length uint32) {
	d := r.slot(idx)
	d.Flags = flags
	d.Length = length
}
