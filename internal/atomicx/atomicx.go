// Package atomicx has the stores sync/atomic lacks: release stores, for a
// memif consumer handing slots back and for counters that one goroutine
// writes and any reads. On amd64, atomic.Store is an XCHG, which waits
// until every store before it has reached the cache; after a store into
// a cache line the peer's CPU holds (a ring index) that is a round trip
// between the cores, per frame when frames are read one at a time
// (ZeroCopyReadPacketData spent 29 % of its time in a counter's store).
//
// A release store is not enough where a load after it must not be
// ordered before it (a producer's index store followed by its MASK_INT
// check, Dekker-style): keep atomic.Store there.
package atomicx

import (
	"sync/atomic"
	"unsafe"
)

// Bump adds n to a counter that only the calling goroutine writes (any
// goroutine may Load it), with a release store.
func Bump(c *atomic.Uint64, n uint64) {
	// atomic.Uint64 is its uint64 behind zero-size fields that align it
	// (TestUint64Layout).
	StoreRelease64((*uint64)(unsafe.Pointer(c)), c.Load()+n)
}
