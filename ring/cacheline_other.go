//go:build !arm64

package ring

// x86 DPDK, VPP, libmemif and every Go implementation use 64.
const defaultCacheLine = 64
