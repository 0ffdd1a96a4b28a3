//go:build !amd64

package ring

import "unsafe"

// canPrefetchW is false: prefetchW is amd64's (prefetch_amd64.s).
const canPrefetchW = false

func prefetchW(p unsafe.Pointer, n uintptr) {}
