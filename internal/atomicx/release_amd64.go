//go:build !race

package atomicx

// StoreRelease32 stores v at *p with release ordering: every load and
// store before it is visible before it, and nothing more
// (release_amd64.s).
//
//go:noescape
func StoreRelease32(p *uint32, v uint32)

// StoreRelease64 is StoreRelease32 for a uint64, which must be 8-byte
// aligned.
//
//go:noescape
func StoreRelease64(p *uint64, v uint64)
