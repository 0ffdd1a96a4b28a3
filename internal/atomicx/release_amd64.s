//go:build !race

#include "textflag.h"

// On amd64 every store is a release store (earlier loads and stores are
// not reordered after it): plain MOVs, without the XCHG that
// atomic.Store compiles to, which waits for the store buffer to drain.
// Being assembly, the calls also keep the Go compiler from moving memory
// accesses across them.

// func StoreRelease32(p *uint32, v uint32)
TEXT ·StoreRelease32(SB), NOSPLIT, $0-12
	MOVQ	p+0(FP), AX
	MOVL	v+8(FP), BX
	MOVL	BX, (AX)
	RET

// func StoreRelease64(p *uint64, v uint64)
TEXT ·StoreRelease64(SB), NOSPLIT, $0-16
	MOVQ	p+0(FP), AX
	MOVQ	v+8(FP), BX
	MOVQ	BX, (AX)
	RET
