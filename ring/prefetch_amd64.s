#include "textflag.h"

// func prefetchW(p unsafe.Pointer, n uintptr)
//
// PREFETCHW (0F 0D /1, which Go's assembler does not name) on every
// 64-byte line of [p, p+n). A prefetch never faults, whatever the address.
TEXT ·prefetchW(SB), NOSPLIT, $0-16
	MOVQ	p+0(FP), AX
	MOVQ	n+8(FP), CX
	ADDQ	AX, CX
	ANDQ	$~63, AX
loop:
	CMPQ	AX, CX
	JAE	done
	BYTE	$0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX)
	ADDQ	$64, AX
	JMP	loop
done:
	RET

// func cpuHasPrefetchW() bool
//
// CPUID leaf 0x80000001, ECX bit 8: PREFETCHW (AMD's 3DNowPrefetch,
// Intel's PRFCHW).
TEXT ·cpuHasPrefetchW(SB), NOSPLIT, $0-1
	MOVL	$0x80000000, AX
	CPUID
	CMPL	AX, $0x80000001
	JB	no
	MOVL	$0x80000001, AX
	CPUID
	SHRL	$8, CX
	ANDL	$1, CX
	MOVB	CX, ret+0(FP)
	RET
no:
	MOVB	$0, ret+0(FP)
	RET
