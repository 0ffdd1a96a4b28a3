//go:build linux

// Package netnstest makes network namespaces for tests, without iproute2.
package netnstest

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// New makes a network namespace for the test, as `ip netns add` would
// but without a name: a thread unshares its network namespace, the test
// keeps a file descriptor of it, and the thread goes back to its own. It
// returns the namespace's file (/proc/PID/fd/N). Without CAP_SYS_ADMIN the
// test is skipped.
func New(t testing.TB) string {
	t.Helper()
	type result struct {
		fd  int
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			res <- result{-1, err}
			return
		}
		defer unix.Close(own)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			res <- result{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if unix.Setns(own, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else the thread dies with us
		}
		res <- result{fd, err}
	}()
	r := <-res
	if r.err == unix.EPERM {
		t.Skip("creating a network namespace needs CAP_SYS_ADMIN (run the tests as root, as CI does)")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), r.fd)
}
