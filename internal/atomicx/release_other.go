//go:build !amd64 || race

package atomicx

import "sync/atomic"

// StoreRelease32 stores v at *p with (at least) release ordering. On
// amd64 it is a plain store (release_amd64.s); elsewhere, and under the
// race detector, which does not see assembly stores, it is the
// sequentially consistent atomic.StoreUint32.
func StoreRelease32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

// StoreRelease64 is StoreRelease32 for a uint64, which must be 8-byte
// aligned.
func StoreRelease64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }
