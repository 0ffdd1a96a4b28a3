package control

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// inNetns runs f, which creates a socket, inside the network namespace
// whose file is path (f runs as it is when path is empty). A namespace
// belongs to an OS thread, not to a process, so f runs on a goroutine of
// its own, locked to its thread, which joins the namespace, runs f, and
// goes back to the namespace the thread had. The socket f made keeps its
// namespace wherever it is used afterwards. If the thread cannot go back,
// the goroutine ends still locked, and the Go runtime then retires the
// thread instead of handing it to other goroutines: the namespace never
// leaks into the rest of the process.
func inNetns(path string, f func() error) error {
	if path == "" {
		return f()
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return netnsError(path, "open", err)
	}
	defer unix.Close(target)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- netnsError("/proc/thread-self/ns/net", "open", err)
			return
		}
		defer unix.Close(own)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- netnsError(path, "setns", err)
			return
		}
		ferr := f()
		if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			done <- errors.Join(ferr, netnsError("the thread's own", "setns back", err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// netnsError says what a user can do about a namespace that cannot be
// joined.
func netnsError(path, op string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("network namespace %s does not exist (`ip netns list` shows the named ones)", path)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("network namespace %s: joining it needs CAP_SYS_ADMIN (run as root): %w", path, os.NewSyscallError(op, err))
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("network namespace %s: not a network namespace file: %w", path, os.NewSyscallError(op, err))
	}
	return fmt.Errorf("network namespace %s: %w", path, os.NewSyscallError(op, err))
}
