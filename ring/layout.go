package ring

import (
	"fmt"
	"math"
	"strconv"
)

// Cookie is the first word of every ring header. The client writes it when it
// initialises a ring and both sides compare it at connect; it cannot detect a
// cache-line mismatch, because cookie, flags and head sit at the same offsets
// whatever the cache line is.
const Cookie uint32 = 0x3E31F20

// DescSize is the size of one descriptor in bytes.
const DescSize = 16

// MaxLog2RingSize is the largest log2 ring size any peer accepts (HELLO's
// max_log2_ring_size is 14 in DPDK, VPP, libmemif and gomemif). It also keeps
// free-running u16 index differences unambiguous: 1<<14 is far below 1<<16.
const MaxLog2RingSize = 14

// RingFlagMaskInt is bit 0 of the ring header flags (MEMIF_RING_FLAG_MASK_INT):
// the ring's consumer sets it to say "do not interrupt me, I poll".
const RingFlagMaskInt uint16 = 1

// DescFlagNext is bit 0 of the descriptor flags (MEMIF_DESC_FLAG_NEXT): the
// packet continues in the next slot.
const DescFlagNext uint16 = 1

// Direction is the direction of a ring, in DPDK's words. libmemif, VPP and
// gomemif call C2S "S2M" (slave to master) and S2C "M2S"; the values are the
// same on the wire.
type Direction uint8

const (
	// C2S rings carry packets from the client to the server
	// (MEMIF_RING_C2S = MEMIF_RING_S2M = 0).
	C2S Direction = 0
	// S2C rings carry packets from the server to the client
	// (MEMIF_RING_S2C = MEMIF_RING_M2S = 1).
	S2C Direction = 1
)

// String returns "C2S", "S2C" or "Direction(n)".
func (d Direction) String() string {
	switch d {
	case C2S:
		return "C2S"
	case S2C:
		return "S2C"
	default:
		return "Direction(" + strconv.Itoa(int(d)) + ")"
	}
}

// DefaultCacheLine returns the ring header cache-line size the C peers are
// most likely built with on this architecture: 128 on arm64 (VPP/libmemif
// since v24.02 and DPDK's generic arm64 builds), 64 everywhere else. Nothing
// in the protocol negotiates it, so both sides must be configured alike.
func DefaultCacheLine() int { return defaultCacheLine }

// RingBytes is the footprint of one ring: a header of two cache lines (cookie,
// flags and head in the first, tail in the second) and 1<<log2 descriptors.
func RingBytes(cacheLine int, log2 uint8) int {
	return 2*cacheLine + DescSize<<log2
}

// Layout describes region 0 as DPDK, VPP (no-zero-copy) and gomemif clients
// lay it out in copy mode: all C2S rings, then all S2C rings, packed back to
// back, then one buffer per slot of every ring, in ring order. A server never
// assumes this layout (it follows ADD_RING and the descriptors); only a client
// uses it, to create its region.
type Layout struct {
	CacheLine    int    // 64 or 128, see DefaultCacheLine
	Log2RingSize uint8  // 1..MaxLog2RingSize; every ring has 1<<Log2RingSize slots
	NumC2S       int    // number of C2S rings, 1..256
	NumS2C       int    // number of S2C rings, 1..256
	BufferSize   uint32 // bytes per buffer, 1..65535
}

// maxRingsPerDirection is VPP's MEMIF_MAX_RING+1 (DPDK and libmemif stop at
// 255; HELLO tells the client which).
const maxRingsPerDirection = 256

// maxBufferSize is the largest buffer DPDK and VPP can describe: both keep the
// buffer size in a u16.
const maxBufferSize = math.MaxUint16

// Validate reports the first field that is out of range, or a layout whose
// region would not be addressable with the u32 offsets of ADD_RING and the
// descriptors.
func (l Layout) Validate() error {
	if l.CacheLine != 64 && l.CacheLine != 128 {
		return fmt.Errorf("memif layout: cache line %d: must be 64 or 128", l.CacheLine)
	}
	if l.Log2RingSize < 1 || l.Log2RingSize > MaxLog2RingSize {
		return fmt.Errorf("memif layout: log2 ring size %d: must be 1..%d", l.Log2RingSize, MaxLog2RingSize)
	}
	if l.NumC2S < 1 || l.NumC2S > maxRingsPerDirection {
		return fmt.Errorf("memif layout: %d C2S rings: must be 1..%d", l.NumC2S, maxRingsPerDirection)
	}
	if l.NumS2C < 1 || l.NumS2C > maxRingsPerDirection {
		return fmt.Errorf("memif layout: %d S2C rings: must be 1..%d", l.NumS2C, maxRingsPerDirection)
	}
	if l.BufferSize < 1 || l.BufferSize > maxBufferSize {
		return fmt.Errorf("memif layout: buffer size %d: must be 1..%d (a u16 in DPDK and VPP)", l.BufferSize, maxBufferSize)
	}
	// Every offset must stay below 2^32: the last byte of the region is at
	// RegionSize-1, so the region may be at most 4 GiB.
	if size := l.RegionSize(); size > 1<<32 {
		return fmt.Errorf("memif layout: region of %d bytes: offsets are u32, so it must not exceed %d bytes", size, uint64(1)<<32)
	}
	return nil
}

func (l Layout) ringBytes() uint64 { return uint64(RingBytes(l.CacheLine, l.Log2RingSize)) }

// RingOffset is the offset in region 0 of ring i of direction d (the value
// the client sends in ADD_RING). Meaningful only for a valid layout and
// 0 <= i < NumC2S or NumS2C.
func (l Layout) RingOffset(d Direction, i int) uint32 {
	n := uint64(i)
	if d == S2C {
		n += uint64(l.NumC2S)
	}
	return uint32(n * l.ringBytes())
}

// BufferBase is the offset in region 0 of the first buffer, right after the
// last ring.
func (l Layout) BufferBase() uint32 {
	return uint32(uint64(l.NumC2S+l.NumS2C) * l.ringBytes())
}

// BufferOffset is the offset in region 0 of the buffer behind slot of ring
// ring of direction d: buffer number ring*N+slot for C2S and
// (NumC2S+ring)*N+slot for S2C. DPDK and VPP compute that number in a u16,
// which wraps once rings*N exceeds 65536 (fixed in libmemif by VPP commit
// 00e9fe6ca77); here it is computed in 64 bits. Meaningful only for a valid
// layout and in-range ring and slot.
func (l Layout) BufferOffset(d Direction, ring int, slot int) uint32 {
	n := uint64(ring)
	if d == S2C {
		n += uint64(l.NumC2S)
	}
	index := n<<l.Log2RingSize + uint64(slot)
	return uint32(uint64(l.BufferBase()) + index*uint64(l.BufferSize))
}

// RegionSize is the size of region 0: the rings and every slot's buffer.
func (l Layout) RegionSize() uint64 {
	rings := uint64(l.NumC2S) + uint64(l.NumS2C)
	return rings*l.ringBytes() + rings<<l.Log2RingSize*uint64(l.BufferSize)
}
