//go:build !linux

package testpmd

import (
	"errors"
	"os"
	"syscall"
)

// testpmd's memif PMD, and the process handling here, are Linux-only.
const supported = false

var errUnsupported = errors.New("testpmd: only supported on Linux")

func openPTY() (master, slave *os.File, err error) { return nil, nil, errUnsupported }

func procAttr() *syscall.SysProcAttr { return nil }

func waitNoReap(pid int) bool { return false }

func signalGroup(pgid int, sig syscall.Signal) error { return errUnsupported }

func allowedCPUs() []int { return nil }

func runtimeBase() string { return "" }

func pidGone(pid int) bool { return false }

func describeExit(ps *os.ProcessState) (code int, signal string, crashed bool) {
	return ps.ExitCode(), "", false
}
