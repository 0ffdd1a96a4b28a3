package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is one memif control channel: a connected AF_UNIX SOCK_SEQPACKET
// socket carrying 128-byte messages, each with at most one file descriptor.
//
// All I/O goes through Go's runtime poller, so Close unblocks a blocked Recv
// and no goroutine sits in a raw syscall. Send and Recv may run concurrently
// with each other and with Close; concurrent Recv calls are serialised.
type Conn struct {
	uc *net.UnixConn
	// trace, if set, is told every message sent and received (SetTrace).
	trace atomic.Pointer[TraceFunc]

	recvMu sync.Mutex // one Recv at a time: the read deadline is per call

	closeOnce sync.Once
	closeErr  error
}

// recvBufSize is larger than MsgSize so an oversized message arrives whole
// enough to be recognised as such instead of silently truncated to 128.
const recvBufSize = 2 * MsgSize

// recvOOBSize leaves room for the one fd a message may carry plus the
// SCM_CREDENTIALS every peer's listener asks for with SO_PASSCRED, and then
// some: a hostile peer sending several fds must have them all delivered so we
// can close them, and anything beyond this sets MSG_CTRUNC (the kernel closes
// what did not fit).
var recvOOBSize = unix.CmsgSpace(16*4) + credSpace

func newConn(uc *net.UnixConn) *Conn {
	return &Conn{uc: uc}
}

// Dial connects to the memif control socket at a. Connecting needs write
// permission on a socket file. A peer that is not listening gives an error
// wrapping syscall.ECONNREFUSED (or ENOENT for a missing file).
func Dial(ctx context.Context, a Addr) (*Conn, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	var nc net.Conn
	err := inNetns(a.Netns, func() (err error) {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "unixpacket", a.unixAddr().Name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("memif: dial %s: %w", a, err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("memif: dial %s: unexpected connection type %T", a, nc)
	}
	return newConn(uc), nil
}

// Send writes m as exactly one 128-byte message. If fd >= 0 it is attached
// in one SCM_RIGHTS control message; the caller keeps its own copy of fd
// (the kernel duplicates it into the peer).
func (c *Conn) Send(m Message, fd int) error {
	var b [MsgSize]byte
	if err := Marshal(m, &b); err != nil {
		return err
	}
	if err := c.sendRaw(b[:], fd, m.Type()); err != nil {
		return err
	}
	c.traced(true, m, fd)
	return nil
}

// sendRaw sends b as one datagram; tests use it to send malformed messages.
func (c *Conn) sendRaw(b []byte, fd int, t MsgType) error {
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	n, oobn, err := c.uc.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return fmt.Errorf("memif: send %s: %w", t, err)
	}
	// SOCK_SEQPACKET sends whole records or nothing; a short count would
	// mean the socket is not what we think it is.
	if n != len(b) || oobn != len(oob) {
		return fmt.Errorf("memif: send %s: short write (%d of %d bytes, %d of %d control bytes)", t, n, len(b), oobn, len(oob))
	}
	return nil
}

// Recv reads one message and the file descriptor that came with it, or -1.
// The fd is close-on-exec and owned by the caller. deadline applies to this
// call only; the zero time means no deadline. A timeout wraps
// os.ErrDeadlineExceeded, an orderly close by the peer wraps io.EOF, a
// closed Conn wraps net.ErrClosed. A message of the wrong size wraps
// ErrMessageSize; on that and every other error, any fds received are closed.
func (c *Conn) Recv(deadline time.Time) (Message, int, error) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()

	if !deadline.IsZero() {
		if err := c.uc.SetReadDeadline(deadline); err != nil {
			return nil, -1, fmt.Errorf("memif: receive: setting deadline: %w", err)
		}
		// Disarm after the call: a sticky deadline would fail every later
		// Recv at once.
		defer c.uc.SetReadDeadline(time.Time{})
	}

	var buf [recvBufSize]byte
	oob := make([]byte, recvOOBSize)
	n, oobn, flags, _, err := c.uc.ReadMsgUnix(buf[:], oob)
	fds, cerr := parseRights(oob[:oobn])
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	if err != nil {
		closeAll()
		return nil, -1, fmt.Errorf("memif: receive: %w", err)
	}
	if cerr != nil {
		closeAll()
		return nil, -1, fmt.Errorf("memif: receive: %w", cerr)
	}
	if flags&unix.MSG_CTRUNC != 0 {
		closeAll()
		return nil, -1, fmt.Errorf("memif: receive: control data truncated (peer sent too many file descriptors, at most 1 is allowed)")
	}
	if n == 0 && len(fds) == 0 {
		// SOCK_SEQPACKET reports an orderly shutdown as a zero-length
		// read. (A zero-length record looks the same; no peer sends one.)
		return nil, -1, fmt.Errorf("memif: receive: %w", io.EOF)
	}
	if flags&unix.MSG_TRUNC != 0 {
		closeAll()
		return nil, -1, fmt.Errorf("memif: receive: %w: more than %d bytes, want %d", ErrMessageSize, recvBufSize, MsgSize)
	}
	if n != MsgSize {
		closeAll()
		return nil, -1, fmt.Errorf("memif: receive: %w: %d bytes, want %d", ErrMessageSize, n, MsgSize)
	}
	if len(fds) > 1 {
		closeAll()
		return nil, -1, fmt.Errorf("memif: receive: message carries %d file descriptors, at most 1 is allowed", len(fds))
	}
	m, err := Unmarshal(buf[:n])
	if err != nil {
		closeAll()
		return nil, -1, err
	}
	fd := -1
	if len(fds) == 1 {
		fd = fds[0]
	}
	c.traced(false, m, fd)
	return m, fd, nil
}

// TraceFunc is told each control message a Conn sent (sent) or received,
// and whether a file descriptor came with it: what a user needs to see
// why a link does not come up. It runs on the goroutine that sent or
// received, so it must not block.
type TraceFunc func(sent bool, m Message, withFD bool)

// SetTrace makes f see every message sent and received from now on; nil
// stops it.
func (c *Conn) SetTrace(f TraceFunc) {
	if f == nil {
		c.trace.Store(nil)
		return
	}
	c.trace.Store(&f)
}

func (c *Conn) traced(sent bool, m Message, fd int) {
	if f := c.trace.Load(); f != nil {
		(*f)(sent, m, fd >= 0)
	}
}

// parseRights returns every fd in the SCM_RIGHTS messages of oob and ignores
// the rest (SCM_CREDENTIALS: peers ask for credentials but nobody uses them).
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parsing control data: %w", err)
	}
	var fds []int
	for i := range cmsgs {
		cm := &cmsgs[i]
		if cm.Header.Level != unix.SOL_SOCKET || cm.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(cm)
		if err != nil {
			// Keep what we already have so the caller can close it.
			return fds, fmt.Errorf("parsing SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// Close closes the channel; a Recv blocked in another goroutine returns an
// error wrapping net.ErrClosed. Closing twice is harmless and returns nil.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closeErr = c.uc.Close()
	})
	if !first || c.closeErr == nil {
		return nil
	}
	if errors.Is(c.closeErr, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("memif: close: %w", c.closeErr)
}
