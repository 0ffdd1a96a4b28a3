package ring

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func mustEventFD(t *testing.T) *EventFD {
	t.Helper()
	e, err := NewEventFD()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestEventFDSignalWait(t *testing.T) {
	t.Parallel()
	e := mustEventFD(t)
	flags, err := unix.FcntlInt(uintptr(e.FD()), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_NONBLOCK == 0 {
		t.Fatalf("fd flags %#x, err %v: want O_NONBLOCK", flags, err)
	}
	for i := 0; i < 3; i++ {
		if err := e.Signal(); err != nil {
			t.Fatal(err)
		}
	}
	// The three signals coalesce into one count of 3, consumed by one Wait.
	if err := e.Wait(time.Second); err != nil {
		t.Fatalf("Wait after Signal: %v", err)
	}
	if got := binary.NativeEndian.Uint64(e.waitBuf[:]); got != 3 {
		t.Errorf("Wait consumed a count of %d, want 3", got)
	}

	start := time.Now()
	err = e.Wait(30 * time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Wait with nothing pending: %v, want os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("Wait timed out after %v, before its 30ms", d)
	}
	// The deadline is not sticky: a signal is seen by the next Wait.
	if err := e.Signal(); err != nil {
		t.Fatal(err)
	}
	if err := e.Wait(time.Second); err != nil {
		t.Fatalf("Wait after a timeout and a Signal: %v", err)
	}
	// And a forever-Wait is woken by a later Signal.
	done := make(chan error, 1)
	go func() { done <- e.Wait(0) }()
	time.Sleep(10 * time.Millisecond)
	e.Signal()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait(0): %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait(0) not woken by Signal")
	}
}

func TestEventFDDrain(t *testing.T) {
	t.Parallel()
	e := mustEventFD(t)
	e.Drain() // nothing pending: must not block
	e.Signal()
	e.Drain()
	if err := e.Wait(20 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Wait after Drain: %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestEventFDSignalOverflowIsNotAnError(t *testing.T) {
	t.Parallel()
	e := mustEventFD(t)
	var max [8]byte
	binary.NativeEndian.PutUint64(max[:], 0xFFFFFFFFFFFFFFFE) // the counter's maximum
	if _, err := unix.Write(e.FD(), max[:]); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Signal() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Signal on a full counter: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Signal blocked on a full counter")
	}
}

func TestEventFDCloseWakesWait(t *testing.T) {
	t.Parallel()
	e, err := NewEventFD()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Wait(0) }()
	time.Sleep(20 * time.Millisecond)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Wait interrupted by Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Wait")
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := e.Wait(time.Second); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Wait after Close: %v, want os.ErrClosed", err)
	}
	if err := e.Wait(0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Wait(0) after Close: %v, want os.ErrClosed", err)
	}
	if err := e.Signal(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Signal after Close: %v, want os.ErrClosed", err)
	}
	e.Drain() // must not panic or block
}

// The server receives the client's eventfd by number (SCM_RIGHTS); here a
// dup stands for it, made blocking to check that EventFDFrom fixes that.
func TestEventFDFrom(t *testing.T) {
	t.Parallel()
	client := mustEventFD(t)
	fd := dup(t, client.FD())
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
	server, err := EventFDFrom(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if server.FD() != fd {
		t.Errorf("FD() = %d, want %d", server.FD(), fd)
	}
	flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if flags&unix.O_NONBLOCK == 0 {
		t.Error("EventFDFrom left the fd blocking")
	}
	if err := client.Signal(); err != nil {
		t.Fatal(err)
	}
	if err := server.Wait(time.Second); err != nil {
		t.Fatalf("server Wait after client Signal: %v", err)
	}
	if err := server.Wait(20 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server Wait with nothing pending: %v, want os.ErrDeadlineExceeded", err)
	}
	server.Signal()
	if err := client.Wait(time.Second); err != nil {
		t.Fatalf("client Wait after server Signal: %v", err)
	}

	if _, err := EventFDFrom(-1); err == nil {
		t.Error("EventFDFrom(-1) succeeded")
	}
	// A peer's pipe in place of an eventfd is refused (and closed).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pfd, err := unix.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := EventFDFrom(pfd); err == nil || !strings.Contains(err.Error(), "not an eventfd") {
		t.Errorf("EventFDFrom(pipe) = %v, want a refusal naming it", err)
	}
	// Every write end is closed now, so the read end sees EOF.
	if n, err := r.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("read from the pipe after EventFDFrom refused it: %d, %v; want EOF (fd closed)", n, err)
	}
}

func TestEventFDSignalDoesNotAllocate(t *testing.T) {
	e := mustEventFD(t)
	allocs := testing.AllocsPerRun(100, func() {
		if err := e.Signal(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Signal allocates %v times per call, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, e.Drain)
	if allocs != 0 {
		t.Errorf("Drain allocates %v times per call, want 0", allocs)
	}
}
