package ring

import "unsafe"

// canPrefetchW says whether the CPU has PREFETCHW; without it the opcode
// may fault, so prefetchW is not called.
var canPrefetchW = cpuHasPrefetchW()

// prefetchW asks for the cache lines of [p, p+n) in a state that lets
// this CPU write them (prefetch_amd64.s). Only if canPrefetchW.
//
//go:noescape
func prefetchW(p unsafe.Pointer, n uintptr)

func cpuHasPrefetchW() bool
