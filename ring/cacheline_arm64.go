package ring

// VPP/libmemif (since v24.02) and DPDK's generic arm64 builds use 128-byte
// cache lines in the ring header.
const defaultCacheLine = 128
