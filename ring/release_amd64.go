//go:build !race

package ring

// storeRelease stores v at *p with release ordering: every load and store
// before it is visible before it, and nothing more (release_amd64.s). It
// is for a consumer handing slots back: nothing it does next depends on
// the peer seeing the store first. A producer's publication stays
// sequentially consistent (Tx.Publish), since the MASK_INT check after it
// must not be ordered before it. The race detector cannot see through
// assembly, so a -race build uses the atomic store (release_other.go).
//
//go:noescape
func storeRelease(p *uint32, v uint32)
