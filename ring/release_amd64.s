//go:build !race

#include "textflag.h"

// func storeRelease(p *uint32, v uint32)
//
// A plain MOVL: on amd64 every store is a release store (earlier loads
// and stores are not reordered after it), and, unlike the XCHG that
// atomic.StoreUint32 compiles to, it does not wait for the store buffer
// to drain. Being assembly, the call also keeps the Go compiler from
// moving memory accesses across it.
TEXT ·storeRelease(SB), NOSPLIT, $0-12
	MOVQ	p+0(FP), AX
	MOVL	v+8(FP), BX
	MOVL	BX, (AX)
	RET
