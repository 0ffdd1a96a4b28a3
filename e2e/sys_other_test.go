//go:build !linux

package e2e

import "syscall"

// procAttr: only Linux has a parent-death signal; the cleanups still stop
// every tool a test started.
func procAttr() *syscall.SysProcAttr { return nil }
