//go:build !amd64 || race

package ring

import "sync/atomic"

// storeRelease stores v at *p with (at least) release ordering: see
// release_amd64.go. Elsewhere, and under the race detector (which does
// not see assembly stores), it is the sequentially consistent store.
func storeRelease(p *uint32, v uint32) { atomic.StoreUint32(p, v) }
