//go:build linux

package control

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connPair returns the two ends of a SOCK_SEQPACKET socketpair as Conns.
func connPair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(fd int) *Conn {
		f := os.NewFile(uintptr(fd), "seqpacket")
		defer f.Close()
		nc, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(nc.(*net.UnixConn))
		t.Cleanup(func() { c.Close() })
		return c
	}
	return mk(fds[0]), mk(fds[1])
}

func eventfd(t *testing.T) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func memfd(t *testing.T, size int64) int {
	t.Helper()
	fd, err := unix.MemfdCreate("memif-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Ftruncate(fd, size); err != nil {
		t.Fatal(err)
	}
	return fd
}

// signalAndCheck writes 1 to the eventfd "from" and expects to read exactly 1
// from "to": the two fds must name the same eventfd.
func signalAndCheck(t *testing.T, from, to int) {
	t.Helper()
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(from, one[:]); err != nil {
		t.Fatalf("write eventfd %d: %v", from, err)
	}
	var got [8]byte
	n, err := unix.Read(to, got[:])
	if err != nil || n != 8 {
		t.Fatalf("read eventfd %d: %d bytes, %v", to, n, err)
	}
	if v := binary.NativeEndian.Uint64(got[:]); v != 1 {
		t.Fatalf("eventfd counter %d, want 1", v)
	}
	if _, err := unix.Read(to, got[:]); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("second read of eventfd %d: %v, want EAGAIN", to, err)
	}
}

// leakCheck hands out the write end of a pipe to be passed over a Conn. After
// release, the read end sees EOF only if every copy of the write end, ours
// and those the peer received, has been closed.
type leakCheck struct {
	r, w *os.File
}

func newLeakCheck(t *testing.T) *leakCheck {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return &leakCheck{r: r, w: w}
}

func (l *leakCheck) fd() int { return int(l.w.Fd()) }

// assertClosed closes our write end and expects EOF on the read end.
func (l *leakCheck) assertClosed(t *testing.T) {
	t.Helper()
	l.w.Close()
	l.r.SetReadDeadline(time.Now().Add(2 * time.Second))
	var b [1]byte
	if n, err := l.r.Read(b[:]); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("pipe read: %d, %v; want EOF (a received copy of the fd was leaked)", n, err)
	}
}

func TestConnPassesOneFD(t *testing.T) {
	t.Parallel()
	a, b := connPair(t)
	efd := eventfd(t)
	mfd := memfd(t, 8192)

	if err := a.Send(AddRing{Flags: RingFlagC2S, Index: 0, Region: 0, Offset: 0, Log2RingSize: 10}, efd); err != nil {
		t.Fatal(err)
	}
	m, fd, err := b.Recv(time.Now().Add(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if want := (AddRing{Flags: RingFlagC2S, Log2RingSize: 10}); m != want {
		t.Errorf("got %#v, want %#v", m, want)
	}
	if fd < 0 || fd == efd {
		t.Fatalf("received fd %d (sent %d)", fd, efd)
	}
	signalAndCheck(t, fd, efd)
	signalAndCheck(t, efd, fd)
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("received fd flags %#x, %v; want FD_CLOEXEC", flags, err)
	}

	if err := a.Send(AddRegion{Index: 0, Size: 8192}, mfd); err != nil {
		t.Fatal(err)
	}
	m, rfd, err := b.Recv(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	if want := (AddRegion{Size: 8192}); m != want {
		t.Errorf("got %#v, want %#v", m, want)
	}
	var st1, st2 unix.Stat_t
	if err := unix.Fstat(mfd, &st1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(rfd, &st2); err != nil {
		t.Fatal(err)
	}
	if st2.Ino != st1.Ino || st2.Size != 8192 {
		t.Errorf("received memfd ino %d size %d, want ino %d size 8192", st2.Ino, st2.Size, st1.Ino)
	}

	// No fd: -1.
	if err := b.Send(Ack{}, -1); err != nil {
		t.Fatal(err)
	}
	m, fd2, err := a.Recv(time.Time{})
	if err != nil || m != (Ack{}) || fd2 != -1 {
		t.Errorf("got %#v, fd %d, %v; want ACK, -1, nil", m, fd2, err)
	}
}

func TestConnRejectsBadDatagrams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		size     int
		nfds     int
		sentinel error
		want     string
	}{
		{"undersized", 64, 0, ErrMessageSize, "memif: receive: invalid message size: 64 bytes, want 128"},
		{"oversized", 129, 0, ErrMessageSize, "memif: receive: invalid message size: 129 bytes, want 128"},
		{"over buffer", 1000, 0, ErrMessageSize, "memif: receive: invalid message size: more than 256 bytes, want 128"},
		{"undersized with fd", 64, 1, ErrMessageSize, "memif: receive: invalid message size: 64 bytes, want 128"},
		{"oversized with fd", 300, 1, ErrMessageSize, "memif: receive: invalid message size: more than 256 bytes, want 128"},
		{"two fds", 128, 2, nil, "memif: receive: message carries 2 file descriptors, at most 1 is allowed"},
		{"too many fds", 128, 40, nil, "memif: receive: control data truncated (peer sent too many file descriptors, at most 1 is allowed)"},
		// Go (like the kernel API users) sends one dummy byte for an empty
		// payload with control data.
		{"empty with fd", 0, 1, ErrMessageSize, "memif: receive: invalid message size: 1 bytes, want 128"},
		{"unknown type with fd", 128, 1, ErrUnknownType, "memif: unknown message type 0 (0x0000)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := connPair(t)
			lc := newLeakCheck(t)
			var oob []byte
			if tt.nfds > 0 {
				fds := make([]int, tt.nfds)
				for i := range fds {
					fds[i] = lc.fd()
				}
				oob = unix.UnixRights(fds...)
			}
			if _, _, err := a.uc.WriteMsgUnix(make([]byte, tt.size), oob, nil); err != nil {
				t.Fatal(err)
			}
			// A valid message behind the bad one must still arrive.
			if err := a.Send(Ack{}, -1); err != nil {
				t.Fatal(err)
			}
			m, fd, err := b.Recv(time.Now().Add(5 * time.Second))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Recv = %#v, %d, %v; want error %q", m, fd, err, tt.want)
			}
			if m != nil || fd != -1 {
				t.Errorf("Recv returned %#v, fd %d with its error", m, fd)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			lc.assertClosed(t)
			m, fd, err = b.Recv(time.Now().Add(5 * time.Second))
			if err != nil || m != (Ack{}) || fd != -1 {
				t.Errorf("next Recv = %#v, %d, %v; want ACK", m, fd, err)
			}
		})
	}
}

func TestConnCloseUnblocksRecv(t *testing.T) {
	t.Parallel()
	_, b := connPair(t)
	errc := make(chan error, 1)
	go func() {
		_, _, err := b.Recv(time.Time{})
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked Recv returned %v, want net.ErrClosed", err)
		}
		if !strings.HasPrefix(err.Error(), "memif: receive: ") {
			t.Errorf("error %q does not name the operation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Recv")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := b.Send(Ack{}, -1); !errors.Is(err, net.ErrClosed) || !strings.HasPrefix(err.Error(), "memif: send ACK: ") {
		t.Errorf("Send after Close: %v", err)
	}
}

func TestConnDeadlineIsPerCall(t *testing.T) {
	t.Parallel()
	a, b := connPair(t)
	start := time.Now()
	_, fd, err := b.Recv(time.Now().Add(30 * time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) || fd != -1 {
		t.Fatalf("Recv = fd %d, %v; want os.ErrDeadlineExceeded", fd, err)
	}
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("timed out after %v, before the deadline", el)
	}
	// The expired deadline must not stick: a Recv without one waits for
	// the message sent well after it.
	go func() {
		time.Sleep(50 * time.Millisecond)
		a.Send(Connected{IfName: "late"}, -1)
	}()
	m, _, err := b.Recv(time.Time{})
	if err != nil || m != (Connected{IfName: "late"}) {
		t.Fatalf("Recv after a timeout = %#v, %v", m, err)
	}
	// A deadline already in the past times out at once.
	if _, _, err := b.Recv(time.Now().Add(-time.Second)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv with a past deadline: %v", err)
	}
}

func TestConnEOF(t *testing.T) {
	t.Parallel()
	a, b := connPair(t)
	if err := a.Send(Disconnect{Reason: "bye"}, -1); err != nil {
		t.Fatal(err)
	}
	a.Close()
	m, _, err := b.Recv(time.Now().Add(5 * time.Second))
	if err != nil || m != (Disconnect{Reason: "bye"}) {
		t.Fatalf("Recv = %#v, %v; want the DISCONNECT sent before close", m, err)
	}
	_, fd, err := b.Recv(time.Now().Add(5 * time.Second))
	if !errors.Is(err, io.EOF) || fd != -1 {
		t.Fatalf("Recv after peer close = fd %d, %v; want io.EOF", fd, err)
	}
}

func TestConnSendRefusesBadMessage(t *testing.T) {
	t.Parallel()
	a, b := connPair(t)
	if err := a.Send(Init{Version: Version, Secret: strings.Repeat("x", 24)}, -1); err == nil {
		t.Fatal("Send of a 24-byte secret succeeded")
	}
	// Nothing went out.
	if m, _, err := b.Recv(time.Now().Add(20 * time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("peer received %#v, %v", m, err)
	}
}
