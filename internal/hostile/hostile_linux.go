// Package hostile is a memif peer for tests that speaks the protocol over a
// real SOCK_SEQPACKET socket with real memfds and eventfds, but misbehaves on
// purpose: it sends messages of any size and type, in any order, with or
// without fds, and after the handshake writes whatever it likes into the
// rings it shares. Tests use it to prove that the implementation under test
// refuses, skips or disconnects, and never panics, hangs or faults.
//
// Client plays a client against a server under test (it owns the shared
// memory, as memif clients do); Server plays a server against a client under
// test (it maps the client's memory, as memif servers do).
package hostile

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/ring"
)

// Conn is a raw control channel: nothing is checked on the way out.
type Conn struct {
	uc *net.UnixConn
}

// Dial connects to the memif control socket at path ("@name" is abstract).
func Dial(path string) (*Conn, error) {
	uc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("hostile: dial %s: %w", path, err)
	}
	return &Conn{uc: uc}, nil
}

// Close closes the channel.
func (c *Conn) Close() error { return c.uc.Close() }

// SendRaw sends b as one datagram with fds attached (any number of them).
func (c *Conn) SendRaw(b []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.uc.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("hostile: send %d bytes: %w", len(b), err)
	}
	return nil
}

// Send marshals m (which control.Marshal must accept) and sends it with fds.
func (c *Conn) Send(m control.Message, fds ...int) error {
	var b [control.MsgSize]byte
	if err := control.Marshal(m, &b); err != nil {
		return err
	}
	return c.SendRaw(b[:], fds...)
}

// Raw builds a 128-byte message of type t whose bytes from offset 2 on are
// body; the caller can then break it as it likes.
func Raw(t control.MsgType, body ...byte) []byte {
	b := make([]byte, control.MsgSize)
	b[0], b[1] = byte(t), byte(t>>8)
	copy(b[2:], body)
	return b
}

// ErrNoMessage is returned by Recv when the peer closed the channel.
var ErrNoMessage = errors.New("hostile: peer closed the control channel")

// Recv waits up to timeout for one message and decodes it. Any fd that came
// with it is closed: the tests look at messages, not at what the peer shares.
func (c *Conn) Recv(timeout time.Duration) (control.Message, error) {
	if err := c.uc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	buf := make([]byte, 2*control.MsgSize)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.uc.ReadMsgUnix(buf, oob)
	if oobn > 0 {
		if cms, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
			for i := range cms {
				fds, _ := unix.ParseUnixRights(&cms[i])
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		}
	}
	if errors.Is(err, io.EOF) {
		return nil, ErrNoMessage
	}
	if err != nil {
		return nil, fmt.Errorf("hostile: receive: %w", err)
	}
	if n == 0 {
		return nil, ErrNoMessage
	}
	return control.Unmarshal(buf[:n])
}

// RecvFD is Recv that keeps the one fd a message may carry (-1 if none).
func (c *Conn) RecvFD(timeout time.Duration) (control.Message, int, error) {
	if err := c.uc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, -1, err
	}
	buf := make([]byte, 2*control.MsgSize)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := c.uc.ReadMsgUnix(buf, oob)
	var fds []int
	if oobn > 0 {
		if cms, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
			for i := range cms {
				got, _ := unix.ParseUnixRights(&cms[i])
				fds = append(fds, got...)
			}
		}
	}
	fd := -1
	for i, f := range fds {
		if i == 0 {
			fd = f
		} else {
			unix.Close(f)
		}
	}
	if (err == nil && n == 0) || errors.Is(err, io.EOF) {
		err = ErrNoMessage
	}
	var m control.Message
	if err == nil {
		m, err = control.Unmarshal(buf[:n])
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, -1, fmt.Errorf("hostile: receive: %w", err)
	}
	return m, fd, nil
}

// Expect receives one message and checks its type. A DISCONNECT where
// something else was expected is returned as a *control.DisconnectError.
func (c *Conn) Expect(t control.MsgType, timeout time.Duration) (control.Message, error) {
	m, err := c.Recv(timeout)
	if err != nil {
		return nil, err
	}
	if d, ok := m.(control.Disconnect); ok && t != control.MsgDisconnect {
		return nil, &control.DisconnectError{Code: d.Code, Reason: d.Reason}
	}
	if m.Type() != t {
		return nil, fmt.Errorf("hostile: got %s, want %s", m.Type(), t)
	}
	return m, nil
}

// Memory is a client's shared memory: one region laid out like DPDK's and
// VPP's copy mode (one C2S and one S2C ring, then the buffers), and one
// eventfd per ring.
type Memory struct {
	Layout ring.Layout
	FD     int // the region's memfd
	Data   []byte
	C2S    *ring.Ring
	S2C    *ring.Ring
	C2SEv  int // eventfds
	S2CEv  int
}

// NewMemory creates the region as a memfd of l.RegionSize() bytes and
// initialises both rings. sealed adds F_SEAL_SHRINK like every real client;
// without it the memfd can be shrunk under the server (see Shrink).
func NewMemory(l ring.Layout, sealed bool) (*Memory, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	size := l.RegionSize()
	fd, err := unix.MemfdCreate("hostile_region", unix.MFD_ALLOW_SEALING|unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	m := &Memory{Layout: l, FD: fd, C2SEv: -1, S2CEv: -1}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		m.Close()
		return nil, os.NewSyscallError("ftruncate", err)
	}
	if sealed {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK); err != nil {
			m.Close()
			return nil, os.NewSyscallError("fcntl", err)
		}
	}
	if m.Data, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		m.Close()
		return nil, os.NewSyscallError("mmap", err)
	}
	if m.C2S, err = ring.NewRing(m.Data[l.RingOffset(ring.C2S, 0):], l.CacheLine, l.Log2RingSize); err != nil {
		m.Close()
		return nil, err
	}
	if m.S2C, err = ring.NewRing(m.Data[l.RingOffset(ring.S2C, 0):], l.CacheLine, l.Log2RingSize); err != nil {
		m.Close()
		return nil, err
	}
	m.C2S.Init()
	m.S2C.Init()
	for _, p := range []*int{&m.C2SEv, &m.S2CEv} {
		if *p, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
			m.Close()
			return nil, os.NewSyscallError("eventfd", err)
		}
	}
	return m, nil
}

// Shrink truncates the region's memfd to size bytes, under a server that
// may have mapped it. Only an unsealed region can be shrunk.
func (m *Memory) Shrink(size int64) error {
	return os.NewSyscallError("ftruncate", unix.Ftruncate(m.FD, size))
}

// Buffer returns the offset of the buffer behind slot of direction d.
func (m *Memory) Buffer(d ring.Direction, slot int) uint32 {
	return m.Layout.BufferOffset(d, 0, slot)
}

// Close unmaps and closes everything. Safe on a partly built Memory.
func (m *Memory) Close() {
	if m.Data != nil {
		unix.Munmap(m.Data)
		m.Data = nil
	}
	for _, p := range []*int{&m.FD, &m.C2SEv, &m.S2CEv} {
		if *p >= 0 {
			unix.Close(*p)
			*p = -1
		}
	}
}

// Offer returns the messages of a well-behaved handshake for m: ADD_REGION
// 0, then ADD_RING C2S 0 and S2C 0, each with the fd that goes with it.
func (m *Memory) Offer() []Step {
	l := m.Layout
	return []Step{
		{Msg: control.AddRegion{Index: 0, Size: l.RegionSize()}, FDs: []int{m.FD}},
		{Msg: control.AddRing{Flags: control.RingFlagC2S, Offset: l.RingOffset(ring.C2S, 0), Log2RingSize: l.Log2RingSize}, FDs: []int{m.C2SEv}},
		{Msg: control.AddRing{Offset: l.RingOffset(ring.S2C, 0), Log2RingSize: l.Log2RingSize}, FDs: []int{m.S2CEv}},
	}
}

// Step is one client message: a marshalled Msg, or Raw bytes when set.
type Step struct {
	Msg control.Message
	Raw []byte
	FDs []int
}

// Client is a hostile client: Handshake runs any sequence of steps.
type Client struct {
	*Conn
	Hello control.Hello
}

// Handshake dials path, waits for HELLO, then sends INIT for id and every
// step in turn, each time waiting for the server's answer: ACK after INIT,
// ADD_REGION and ADD_RING, CONNECTED after CONNECT (the last step when
// connect is set). A DISCONNECT is returned as *control.DisconnectError,
// with the Client still open so the caller can look further.
func Handshake(path string, id uint32, steps []Step, connect bool, timeout time.Duration) (*Client, error) {
	c, err := Dial(path)
	if err != nil {
		return nil, err
	}
	cl := &Client{Conn: c}
	m, err := c.Expect(control.MsgHello, timeout)
	if err != nil {
		return cl, fmt.Errorf("waiting for HELLO: %w", err)
	}
	cl.Hello = m.(control.Hello)
	all := append([]Step{{Msg: control.Init{Version: control.Version, ID: id, Name: "hostile"}}}, steps...)
	if connect {
		all = append(all, Step{Msg: control.Connect{IfName: "hostile"}})
	}
	for i, s := range all {
		if s.Raw != nil {
			err = c.SendRaw(s.Raw, s.FDs...)
		} else {
			err = c.Send(s.Msg, s.FDs...)
		}
		if err != nil {
			return cl, fmt.Errorf("step %d: %w", i, err)
		}
		want := control.MsgAck
		if connect && i == len(all)-1 {
			want = control.MsgConnected
		}
		if _, err := c.Expect(want, timeout); err != nil {
			return cl, fmt.Errorf("step %d: %w", i, err)
		}
	}
	return cl, nil
}

// Server is a hostile server: it accepts clients and answers them with
// whatever the test scripts.
type Server struct {
	l *net.UnixListener
}

// Listen listens on path.
func Listen(path string) (*Server, error) {
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("hostile: listen %s: %w", path, err)
	}
	return &Server{l: l}, nil
}

// Close stops listening.
func (s *Server) Close() error { return s.l.Close() }

// Accept waits up to timeout for the next client.
func (s *Server) Accept(timeout time.Duration) (*Conn, error) {
	s.l.SetDeadline(time.Now().Add(timeout))
	uc, err := s.l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("hostile: accept: %w", err)
	}
	return &Conn{uc: uc}, nil
}

// Peer is what a hostile Server learned from a well-behaved client
// handshake: the client's region, mapped, and its rings.
type Peer struct {
	*Conn
	Region     []byte
	Regionfd   int
	C2S, S2C   *ring.Ring
	C2SEv      int
	S2CEv      int
	BufferSize uint32 // unknown to a server; set by the test for convenience
}

// Serve runs a server handshake on c with the given HELLO, accepting one
// region and one ring per direction, and answers CONNECT with CONNECTED.
func Serve(c *Conn, hello control.Hello, cacheLine int, timeout time.Duration) (*Peer, error) {
	p := &Peer{Conn: c, Regionfd: -1, C2SEv: -1, S2CEv: -1}
	if err := c.Send(hello); err != nil {
		return p, err
	}
	var rings []control.AddRing
	var size uint64
	for {
		m, fd, err := c.RecvFD(timeout)
		if err != nil {
			return p, err
		}
		switch m := m.(type) {
		case control.Init:
		case control.AddRegion:
			p.Regionfd, size = fd, m.Size
			fd = -1
		case control.AddRing:
			rings = append(rings, m)
			if m.Flags&control.RingFlagC2S != 0 {
				p.C2SEv = fd
			} else {
				p.S2CEv = fd
			}
			fd = -1
		case control.Connect:
			if p.Regionfd < 0 || len(rings) != 2 {
				return p, errors.New("hostile: CONNECT before one region and two rings")
			}
			data, err := unix.Mmap(p.Regionfd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			if err != nil {
				return p, err
			}
			p.Region = data
			for _, r := range rings {
				rr, err := ring.NewRing(data[r.Offset:], cacheLine, r.Log2RingSize)
				if err != nil {
					return p, err
				}
				if r.Flags&control.RingFlagC2S != 0 {
					p.C2S = rr
				} else {
					p.S2C = rr
				}
			}
			return p, c.Send(control.Connected{IfName: "hostile"})
		default:
			return p, fmt.Errorf("hostile: unexpected %s", m.Type())
		}
		if fd >= 0 {
			unix.Close(fd)
		}
		if err := c.Send(control.Ack{}); err != nil {
			return p, err
		}
	}
}

// Close closes the channel and unmaps the client's region.
func (p *Peer) Close() {
	p.Conn.Close()
	if p.Region != nil {
		unix.Munmap(p.Region)
		p.Region = nil
	}
	for _, fd := range []*int{&p.Regionfd, &p.C2SEv, &p.S2CEv} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// GoodHello is the HELLO of a server that accepts anything reasonable.
func GoodHello() control.Hello {
	return control.Hello{Name: "hostile", MinVersion: control.Version, MaxVersion: control.Version,
		MaxRegion: 255, MaxS2CRing: 255, MaxC2SRing: 255, MaxLog2RingSize: 14}
}

// WaitIndex polls load until it returns want or timeout passes.
func WaitIndex(load func() uint16, want uint16, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for {
		got := load()
		if got == want {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("hostile: index is %d after %v, want %d", got, timeout, want)
		}
		time.Sleep(time.Millisecond)
	}
}
