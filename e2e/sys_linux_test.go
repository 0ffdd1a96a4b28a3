package e2e

import "syscall"

// procAttr makes a started tool die with the test binary, should that be
// killed before its cleanups run (go test -timeout, ^C).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
