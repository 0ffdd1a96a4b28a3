package ring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// EventFD is a memif interrupt: one eventfd per ring, created by the client
// and passed in ADD_RING, shared by both peers. The ring's producer signals
// it after publishing (when MASK_INT is clear); the consumer waits on it.
//
// All I/O goes through Go's runtime poller, so a Wait blocks no thread and
// Close wakes it. Signal may be called from any goroutine; Wait and Drain
// are meant for the one consumer goroutine (a Wait's deadline is armed for
// that call only and cleared after it).
type EventFD struct {
	f  *os.File
	rc syscall.RawConn
	fd int

	closed atomic.Bool

	one      [8]byte // the 8-byte host-order value 1 that Signal writes
	waitBuf  [8]byte
	drainBuf [8]byte
	// signalFn and drainFn are bound once so that passing them to
	// RawConn does not allocate a closure per call.
	signalFn func(fd uintptr) bool
	drainFn  func(fd uintptr) bool
}

// NewEventFD creates an eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC), as the client
// does for each ring.
func NewEventFD() (*EventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memif eventfd: %w", os.NewSyscallError("eventfd", err))
	}
	return newEventFD(fd)
}

// EventFDFrom wraps an eventfd received from the peer (ADD_RING). It takes
// ownership of fd, closing it on error too, and makes it non-blocking so
// that waits go through the runtime poller.
func EventFDFrom(fd int) (*EventFD, error) {
	if fd < 0 {
		return nil, fmt.Errorf("memif eventfd: invalid fd %d", fd)
	}
	// The peer chose this fd: a pipe, socket or file in its place would
	// have Signal write into it and Wait read from it.
	if kind, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err != nil || kind != "anon_inode:[eventfd]" {
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("memif eventfd %d: %w", fd, err)
		}
		return nil, fmt.Errorf("memif eventfd %d: the peer sent %s, not an eventfd", fd, kind)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memif eventfd %d: %w", fd, os.NewSyscallError("fcntl(O_NONBLOCK)", err))
	}
	return newEventFD(fd)
}

func newEventFD(fd int) (*EventFD, error) {
	// A non-blocking fd makes os.NewFile register it with the poller.
	f := os.NewFile(uintptr(fd), "memif-eventfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("memif eventfd %d: %w", fd, err)
	}
	e := &EventFD{f: f, rc: rc, fd: fd}
	binary.NativeEndian.PutUint64(e.one[:], 1)
	e.signalFn = e.signal
	e.drainFn = e.drain
	return e, nil
}

// FD returns the descriptor, to pass in ADD_RING. It stays valid until
// Close.
func (e *EventFD) FD() int { return e.fd }

// Signal adds 1 to the counter, waking the peer. It does not allocate. The
// only failure of an eventfd write of 1 is EAGAIN when the counter is
// already at its maximum, which means the peer has an interrupt pending
// anyway, so it is not an error.
func (e *EventFD) Signal() error {
	if err := e.rc.Write(e.signalFn); err != nil {
		return e.wrap("signal", err)
	}
	return nil
}

func (e *EventFD) signal(fd uintptr) bool {
	unix.Write(int(fd), e.one[:])
	return true // never wait for writability: see Signal
}

// Wait blocks until the eventfd is signalled and consumes its count, or
// until timeout passes, in which case the error wraps
// os.ErrDeadlineExceeded; timeout <= 0 waits forever. After (or during)
// Close it returns an error wrapping os.ErrClosed.
func (e *EventFD) Wait(timeout time.Duration) error {
	if timeout > 0 {
		if err := e.f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return e.wrap("wait", err)
		}
		// Disarm, so that the next Wait does not fail at once.
		defer e.f.SetReadDeadline(time.Time{})
	}
	if _, err := e.f.Read(e.waitBuf[:]); err != nil {
		return e.wrap("wait", err)
	}
	return nil
}

// Drain consumes a pending count without blocking; nothing pending (EAGAIN)
// is fine.
func (e *EventFD) Drain() {
	_ = e.rc.Read(e.drainFn)
}

func (e *EventFD) drain(fd uintptr) bool {
	unix.Read(int(fd), e.drainBuf[:])
	return true // never wait for readability
}

// wrap names the operation and, once Close has run, makes the error match
// os.ErrClosed whatever layer reported it.
func (e *EventFD) wrap(op string, err error) error {
	if e.closed.Load() && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("memif eventfd %d: %s: %w (%w)", e.fd, op, os.ErrClosed, err)
	}
	return fmt.Errorf("memif eventfd %d: %s: %w", e.fd, op, err)
}

// Close closes the eventfd and wakes a blocked Wait. Calling it again does
// nothing.
func (e *EventFD) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := e.f.Close(); err != nil {
		return fmt.Errorf("memif eventfd %d: close: %w", e.fd, err)
	}
	return nil
}
