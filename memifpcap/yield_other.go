//go:build !linux

package memifpcap

// yieldCPU is a no-op where memif does not run (see yield_linux.go).
func yieldCPU() {}
