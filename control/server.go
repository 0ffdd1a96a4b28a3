package control

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ServerConfig configures a Server. The zero value gets the documented
// defaults.
type ServerConfig struct {
	Name string // HELLO name, e.g. "memifpcap"
	// MaxRegion is HELLO max_region, the highest region index accepted;
	// 0 means 255 (what DPDK and libmemif advertise).
	MaxRegion uint16
	// MaxRings is HELLO max_s2c_ring and max_c2s_ring, the highest ring
	// index accepted per direction; 0 means 255.
	MaxRings uint16
	// MaxLog2RingSize is HELLO max_log2_ring_size; 0 means 14, and values
	// above 14 are lowered to 14, the protocol maximum.
	MaxLog2RingSize uint8
	// StepTimeout bounds the wait for each client message; 0 means
	// DefaultStepTimeout. A client that stalls is dropped silently.
	StepTimeout time.Duration
	// MaxPending caps concurrent unfinished handshakes; 0 means 64. Beyond
	// it, new connections are closed at once.
	MaxPending int
	// OnError, if set, is called with the reason each failed or refused
	// handshake ended (the client only sees the DISCONNECT reason, if any).
	// It is called from the connection's goroutine, possibly concurrently.
	OnError func(error)
	// Trace, if set, is each accepted connection's TraceFunc (see
	// Conn.SetTrace): every handshake message, from the first HELLO.
	Trace TraceFunc
}

// Limits is what one interface accepts from a client.
type Limits struct {
	C2SRings int // C2S rings accepted: the interface's receive queues
	S2CRings int // S2C rings accepted: the interface's transmit queues
	// Regions caps the number of regions; 0 means up to MaxRegion+1.
	Regions int
}

// ServerInterface is one interface id served on a socket.
type ServerInterface interface {
	// Admit is called for an INIT addressed to this interface's id. It
	// checks what only the interface knows (already connected, mode,
	// secret) and returns a *RejectError to refuse; any other error
	// refuses with "Device error".
	Admit(init Init) (Limits, error)
	// Connect is called on CONNECT with everything received. It maps the
	// regions, checks the ring cookies and brings the link up; a
	// *RejectError refuses (its reason is sent). On nil error it owns c
	// and every fd in offer, and returns the if_name to send in CONNECTED.
	// On error the server closes c and the fds.
	Connect(c *Conn, init Init, offer *Offer, peerIfName string) (ifName string, err error)
}

// RejectError refuses a client; Reason is the DISCONNECT string it receives
// (at most ReasonSize-1 bytes are sent).
type RejectError struct {
	Reason string
}

func (e *RejectError) Error() string { return "memif: refused client: " + e.Reason }

// Server answers memif clients on one listener, for several interfaces with
// distinct ids. Each connection is handshaken in its own goroutine, so a
// client that never speaks delays nobody.
type Server struct {
	l   *Listener
	cfg ServerConfig

	mu      sync.Mutex
	ifaces  map[uint32]ServerInterface
	pending map[*Conn]struct{}
	started bool
	closed  bool

	wg sync.WaitGroup
}

// NewServer takes ownership of l. It accepts no client until Start:
// register the interfaces first, so that no client meets a socket that
// answers "ID not found" for an id about to be served.
func NewServer(l *Listener, cfg ServerConfig) *Server {
	if cfg.MaxRegion == 0 {
		cfg.MaxRegion = 255
	}
	if cfg.MaxRings == 0 {
		cfg.MaxRings = 255
	}
	if cfg.MaxLog2RingSize == 0 || cfg.MaxLog2RingSize > MaxLog2RingSize {
		cfg.MaxLog2RingSize = MaxLog2RingSize
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = DefaultStepTimeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 64
	}
	s := &Server{
		l:       l,
		cfg:     cfg,
		ifaces:  make(map[uint32]ServerInterface),
		pending: make(map[*Conn]struct{}),
	}
	return s
}

// Start begins accepting clients, in a goroutine. Only the first call, on
// a server not closed, does anything.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.acceptLoop()
}

// Register serves iface under id. Ids are unique per socket, as in every
// peer ("Two interfaces with the same id can not have the same role").
func (s *Server) Register(id uint32, iface ServerInterface) error {
	if iface == nil {
		return fmt.Errorf("memif: register id %d on %s: nil interface", id, s.l.Addr())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memif: register id %d on %s: server closed: %w", id, s.l.Addr(), net.ErrClosed)
	}
	if _, ok := s.ifaces[id]; ok {
		return fmt.Errorf("memif: register id %d on %s: id already registered", id, s.l.Addr())
	}
	s.ifaces[id] = iface
	return nil
}

// Unregister stops serving id. A handshake already admitted for it is
// refused at CONNECT; an established connection is the interface's business.
func (s *Server) Unregister(id uint32) {
	s.mu.Lock()
	delete(s.ifaces, id)
	s.mu.Unlock()
}

// Close stops accepting, aborts pending handshakes, closes the listener
// (removing its socket file) and waits for the server's goroutines.
// Connections already handed to an interface are not touched.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*Conn, 0, len(s.pending))
	for c := range s.pending {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	err := s.l.Close()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	return err
}

func (s *Server) report(err error) {
	if s.cfg.OnError != nil {
		s.cfg.OnError(err)
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			// EMFILE and friends: give the process time to free fds
			// instead of spinning, as net/http does.
			s.report(err)
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff *= 2; backoff > time.Second {
				backoff = time.Second
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if s.cfg.Trace != nil {
			c.SetTrace(s.cfg.Trace)
		}

		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			c.Close()
			return
		case len(s.pending) >= s.cfg.MaxPending:
			s.mu.Unlock()
			c.Close()
			s.report(fmt.Errorf("memif: server %s: %d handshakes pending, dropped a new connection", s.l.Addr(), s.cfg.MaxPending))
			continue
		}
		s.pending[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// release removes c from the pending set. It reports false if the server
// is closing, in which case Close owns closing c.
func (s *Server) release(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, c)
	return !s.closed
}

func (s *Server) serve(c *Conn) {
	defer s.wg.Done()
	h := serverHandshake{s: s, c: c}
	handedOver, err := h.run()
	if !handedOver {
		s.release(c)
		h.offer.closeFDs()
		c.Close()
	}
	if err == nil {
		return
	}
	s.mu.Lock()
	closing := s.closed
	s.mu.Unlock()
	if closing && errors.Is(err, net.ErrClosed) {
		return // aborted by Close: not the client's fault
	}
	s.report(fmt.Errorf("memif: server %s: handshake with client%s: %w", s.l.Addr(), h.who(), err))
}

// serverHandshake is the state of one connection's handshake.
type serverHandshake struct {
	s     *Server
	c     *Conn
	init  Init
	gotID bool
	iface ServerInterface
	lim   Limits
	nC2S  int
	nS2C  int
	c2s   []RingOffer
	s2c   []RingOffer
	offer Offer // regions as received; rings assembled at CONNECT
}

func (h *serverHandshake) who() string {
	if !h.gotID {
		return ""
	}
	return fmt.Sprintf(" (id %d, %q)", h.init.ID, h.init.Name)
}

// refuse sends DISCONNECT(0, reason) and returns the matching error; the
// caller then closes the connection.
func (h *serverHandshake) refuse(reason string, cause error) error {
	h.c.Send(Disconnect{Reason: reason}, -1) // best effort: we close anyway
	re := &RejectError{Reason: reason}
	if cause != nil && cause.Error() != re.Error() {
		return fmt.Errorf("%w (%w)", re, cause)
	}
	return re
}

// recv waits one StepTimeout for the next message. Transport failures end
// the handshake silently; undecodable messages are refused with DPDK's
// reasons.
func (h *serverHandshake) recv(after string) (Message, int, error) {
	m, fd, err := h.c.Recv(time.Now().Add(h.s.cfg.StepTimeout))
	if err == nil {
		if d, ok := m.(Disconnect); ok {
			if fd >= 0 {
				unix.Close(fd)
			}
			return nil, -1, fmt.Errorf("client disconnected %s: %q", after, d.Reason)
		}
		return m, fd, nil
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, -1, fmt.Errorf("no message from the client within %v %s: %w", h.s.cfg.StepTimeout, after, err)
	case errors.Is(err, io.EOF), errors.Is(err, unix.ECONNRESET):
		return nil, -1, fmt.Errorf("client closed the connection %s: %w", after, err)
	case errors.Is(err, net.ErrClosed):
		return nil, -1, fmt.Errorf("server closing %s: %w", after, err)
	case errors.Is(err, ErrMessageSize):
		return nil, -1, h.refuse(ReasonMsgSize, err)
	case errors.Is(err, ErrUnknownType):
		return nil, -1, h.refuse(ReasonUnknownType, err)
	}
	var me *MessageError
	if errors.As(err, &me) {
		return nil, -1, h.refuse(fmt.Sprintf("Invalid %s %s", me.Type, me.Field), err)
	}
	// Too many fds, or a socket error.
	return nil, -1, h.refuse(ReasonInvalidMessage, err)
}

// admit sends HELLO, reads INIT and lets the interface it names admit the
// client; the caller ACKs. Errors have refused the client already, where a
// refusal is due.
func (h *serverHandshake) admit() error {
	cfg := &h.s.cfg
	err := h.c.Send(Hello{
		Name:            cfg.Name,
		MinVersion:      Version,
		MaxVersion:      Version,
		MaxRegion:       cfg.MaxRegion,
		MaxS2CRing:      cfg.MaxRings,
		MaxC2SRing:      cfg.MaxRings,
		MaxLog2RingSize: cfg.MaxLog2RingSize,
	}, -1)
	if err != nil {
		return err
	}

	m, fd, err := h.recv("after HELLO")
	if err != nil {
		return err
	}
	if fd >= 0 {
		unix.Close(fd) // INIT carries no fd
	}
	init, ok := m.(Init)
	if !ok {
		return h.refuse(ReasonUnexpected, fmt.Errorf("expected INIT after HELLO, got %s", m.Type()))
	}
	h.init, h.gotID = init, true
	if init.Version != Version {
		return h.refuse(ReasonVersion, fmt.Errorf("client speaks version 0x%04x, we speak 0x%04x", init.Version, Version))
	}
	h.s.mu.Lock()
	h.iface = h.s.ifaces[init.ID]
	h.s.mu.Unlock()
	if h.iface == nil {
		return h.refuse(ReasonIDNotFound, nil)
	}
	h.lim, err = h.iface.Admit(init)
	if err != nil {
		return h.refuseWith(err)
	}
	if h.lim.Regions <= 0 || h.lim.Regions > int(cfg.MaxRegion)+1 {
		h.lim.Regions = int(cfg.MaxRegion) + 1
	}
	return nil
}

// run performs the handshake. handedOver reports that an interface's
// Connect accepted c and the offer.
func (h *serverHandshake) run() (handedOver bool, err error) {
	if err := h.admit(); err != nil {
		return false, err
	}
	if err := h.c.Send(Ack{}, -1); err != nil {
		return false, err
	}

	after := "after INIT"
	for {
		m, fd, err := h.recv(after)
		if err != nil {
			return false, err
		}
		switch m := m.(type) {
		case AddRegion:
			if err := h.addRegion(m, fd); err != nil {
				return false, err
			}
			after = fmt.Sprintf("after ADD_REGION %d", m.Index)
		case AddRing:
			if err := h.addRing(m, fd); err != nil {
				return false, err
			}
			dir := "S2C"
			if m.Flags&RingFlagC2S != 0 {
				dir = "C2S"
			}
			after = fmt.Sprintf("after ADD_RING %s %d", dir, m.Index)
		case Connect:
			if fd >= 0 {
				unix.Close(fd)
			}
			return h.connect(m)
		default:
			if fd >= 0 {
				unix.Close(fd)
			}
			return false, h.refuse(ReasonUnexpected, fmt.Errorf("unexpected %s %s", m.Type(), after))
		}
		if err := h.c.Send(Ack{}, -1); err != nil {
			return false, err
		}
	}
}

// refuseWith refuses with the reason of a *RejectError, or "Device error"
// for any other interface error (its text stays on our side).
func (h *serverHandshake) refuseWith(err error) error {
	var re *RejectError
	if errors.As(err, &re) {
		return h.refuse(re.Reason, err)
	}
	return h.refuse(ReasonDeviceError, err)
}

func (h *serverHandshake) addRegion(m AddRegion, fd int) error {
	if fd < 0 {
		return h.refuse(ReasonMissingRegion, fmt.Errorf("ADD_REGION %d without an fd", m.Index))
	}
	n := len(h.offer.Regions)
	// Take the fd first so every failure path closes it with the rest.
	h.offer.Regions = append(h.offer.Regions, RegionOffer{Size: m.Size, FD: fd})
	switch {
	case int(m.Index) != n:
		return h.refuse(ReasonRegionIndex, fmt.Errorf("ADD_REGION index %d, want %d (regions come in order)", m.Index, n))
	case n >= h.lim.Regions: // lim.Regions is capped at MaxRegion+1 at INIT
		return h.refuse(ReasonRegionIndex, fmt.Errorf("ADD_REGION index %d, this interface accepts %d regions", m.Index, h.lim.Regions))
	case m.Size == 0:
		return h.refuse(ReasonRegionSize, fmt.Errorf("ADD_REGION %d of size 0", m.Index))
	}
	return nil
}

func (h *serverHandshake) addRing(m AddRing, fd int) error {
	if fd < 0 {
		return h.refuse(ReasonMissingIntFD, fmt.Errorf("ADD_RING without an eventfd"))
	}
	r := RingOffer{Msg: m, FD: fd}
	count, limit, dir := &h.nS2C, h.lim.S2CRings, "S2C"
	list := &h.s2c
	if m.Flags&RingFlagC2S != 0 {
		count, limit, dir = &h.nC2S, h.lim.C2SRings, "C2S"
		list = &h.c2s
	}
	// Take the fd first so every failure path closes it with the rest.
	*list = append(*list, r)
	h.offer.Rings = append(h.offer.Rings, r)
	switch {
	case m.PrivateHdrSize != 0:
		return h.refuse(ReasonPrivateHdr, fmt.Errorf("ADD_RING %s %d with private header size %d", dir, m.Index, m.PrivateHdrSize))
	case int(m.Index) != *count:
		return h.refuse(ReasonRingIndex, fmt.Errorf("ADD_RING %s index %d, want %d (rings come in order)", dir, m.Index, *count))
	case *count >= limit || m.Index > h.s.cfg.MaxRings:
		return h.refuse(ReasonRingIndex, fmt.Errorf("ADD_RING %s index %d, this interface has %d %s rings", dir, m.Index, limit, dir))
	case int(m.Region) >= len(h.offer.Regions):
		return h.refuse(ReasonRegionIndex, fmt.Errorf("ADD_RING %s %d in region %d, %d regions received", dir, m.Index, m.Region, len(h.offer.Regions)))
	case m.Log2RingSize > h.s.cfg.MaxLog2RingSize:
		return h.refuse(ReasonRingSize, fmt.Errorf("ADD_RING %s %d log2 ring size %d, HELLO allowed %d", dir, m.Index, m.Log2RingSize, h.s.cfg.MaxLog2RingSize))
	}
	*count++
	return nil
}

func (h *serverHandshake) connect(m Connect) (bool, error) {
	if h.nC2S == 0 || h.nS2C == 0 {
		return false, h.refuse(ReasonMissingRings, fmt.Errorf("CONNECT with %d C2S and %d S2C rings", h.nC2S, h.nS2C))
	}
	// Hand the rings over in the documented order: C2S 0..n-1, S2C 0..m-1,
	// whatever order the client interleaved them in.
	h.offer.Rings = append(append(h.offer.Rings[:0], h.c2s...), h.s2c...)

	h.s.mu.Lock()
	still := h.s.ifaces[h.init.ID] == h.iface
	h.s.mu.Unlock()
	if !still {
		return false, h.refuse(ReasonIDNotFound, errors.New("interface unregistered during the handshake"))
	}
	// Leave the pending set before Connect: once the interface owns c,
	// Server.Close must not close it.
	if !h.s.release(h.c) {
		return false, errors.New("server closing at CONNECT")
	}
	ifName, err := h.iface.Connect(h.c, h.init, &h.offer, m.IfName)
	if err != nil {
		return false, h.refuseWith(err)
	}
	if err := h.c.Send(Connected{IfName: ifName}, -1); err != nil {
		// The interface owns c now and sees the failure on its own reads.
		return true, err
	}
	return true, nil
}
