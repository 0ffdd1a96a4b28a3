package memifpcap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/ring"
)

func (h *Handle) openClient(ctx context.Context) error {
	s, err := h.connect(ctx)
	if err != nil {
		return err
	}
	if reason := s.start(); reason != "" {
		s.abandon(reason)
		return fmt.Errorf("memif: %s", reason)
	}
	return nil
}

// connectRetry is how often Open tries again while it waits for a server
// (ConnectWait): short, as a server that is starting comes up within
// seconds (testpmd answers "ID not found" until its port starts).
const connectRetry = 100 * time.Millisecond

// connect dials and runs the handshake until it succeeds, fails for good,
// ctx ends or ConnectWait runs out. Only what a starting server does is
// retried: no socket yet, connection refused, "ID not found" or "Already
// connected"; the error is then the last attempt's.
func (h *Handle) connect(ctx context.Context) (*session, error) {
	c := h.cfg
	var deadline time.Time
	if c.ConnectWait > 0 {
		deadline = time.Now().Add(c.ConnectWait)
	}
	for {
		s, err := h.dial(ctx)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, &connectError{addr: c.addr.String(), id: c.ID, err: ctx.Err()}
		}
		h.refused(err)
		if c.ConnectWait == 0 || !startingUp(err) || (!deadline.IsZero() && !time.Now().Before(deadline)) {
			return nil, err
		}
		t := time.NewTimer(connectRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, &connectError{addr: c.addr.String(), id: c.ID, err: ctx.Err(), last: err}
		case <-h.done:
			t.Stop()
			return nil, ErrClosed
		}
	}
}

// refused tells Config.OnRefuse about a server's refusal.
func (h *Handle) refused(err error) {
	var re *control.DisconnectError
	if h.cfg.OnRefuse != nil && errors.As(err, &re) {
		h.cfg.OnRefuse(strings.TrimPrefix(re.Error(), "memif: "))
	}
}

// startingUp reports whether a failed connect is what a server that is
// not up yet, or still holds our last link, answers.
func startingUp(err error) bool {
	var re *control.DisconnectError
	if errors.As(err, &re) {
		return re.Reason == control.ReasonIDNotFound || re.Reason == control.ReasonAlreadyConnected
	}
	// EPIPE: the server closed its listener while we connected (a tap
	// cycling its links does).
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF)
}

// connectError is why a client could not connect, said once:
// "memif: connect ADDR: no such file or directory (is the server
// running?)", "memif: connect ADDR id 3: server refused the connection:
// Incorrect secret".
type connectError struct {
	addr string
	id   uint32
	err  error
	last error // when ctx ended while waiting: the last attempt's error
}

func (e *connectError) Error() string {
	var errno syscall.Errno
	if errors.As(e.err, &errno) {
		msg := errno.Error()
		switch errno {
		case syscall.ENOENT, syscall.ECONNREFUSED:
			msg += " (is the server running?)"
		}
		return fmt.Sprintf("memif: connect %s: %s", e.addr, msg)
	}
	if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
		if e.last != nil {
			return fmt.Sprintf("%s (then interrupted: %v)", e.last.Error(), e.err)
		}
		return fmt.Sprintf("memif: connect %s: interrupted (%v)", e.addr, e.err)
	}
	return fmt.Sprintf("memif: connect %s id %d: %s", e.addr, e.id, strings.TrimPrefix(e.err.Error(), "memif: "))
}

func (e *connectError) Unwrap() []error {
	if e.last != nil {
		return []error{e.err, e.last}
	}
	return []error{e.err}
}

// dial connects to the server and runs the client handshake; ctx ending
// aborts either. On success the session's rings are live but it is not
// yet the Handle's.
func (h *Handle) dial(ctx context.Context) (*session, error) {
	c := h.cfg
	dctx, cancel := context.WithTimeout(ctx, c.HandshakeTimeout)
	conn, err := control.Dial(dctx, c.addr)
	cancel()
	if err != nil {
		return nil, &connectError{addr: c.addr.String(), id: c.ID, err: err}
	}
	if f := c.OnControl; f != nil {
		conn.SetTrace(func(sent bool, m control.Message, withFD bool) { f(controlLine(sent, m, withFD)) })
	}
	h.stateMu.Lock()
	if h.closed.Load() {
		h.stateMu.Unlock()
		conn.Close()
		return nil, ErrClosed
	}
	h.dialing = conn
	h.stateMu.Unlock()
	defer func() {
		h.stateMu.Lock()
		h.dialing = nil
		h.stateMu.Unlock()
	}()
	// A cancelled ctx closes the channel under the handshake, which then
	// fails at once instead of waiting out its step timeout.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	s := newSession(h, conn)
	res, err := control.ClientHandshake(conn, control.ClientParams{
		ID:          c.ID,
		Mode:        control.Mode(c.Mode),
		Secret:      c.Secret,
		Name:        c.Name,
		IfName:      c.IfName,
		StepTimeout: c.HandshakeTimeout,
	}, s.planClient)
	if err != nil {
		conn.Close()
		s.release()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &connectError{addr: c.addr.String(), id: c.ID, err: err}
	}
	s.peerName, s.peerIfName = res.Hello.Name, res.PeerIfName
	// CONNECTED: the server has reset the rings (DPDK does so on CONNECT)
	// and now has no credit on S2C until we refill it.
	s.resetRings()
	return s, nil
}

// planClient lays out region 0 the way DPDK and VPP clients do in copy
// mode (all C2S rings, all S2C rings, then the buffers), within the limits
// of the server's HELLO: one ring per queue, TxQueues C2S and RxQueues S2C.
// A server that has fewer queues than we offer refuses with "Invalid ring
// index" (DPDK does, and so do we), as HELLO's maxima are the socket's,
// not the interface's.
func (s *session) planClient(hello control.Hello) (*control.Offer, error) {
	c := s.h.cfg
	log2 := min(c.log2, hello.MaxLog2RingSize)
	if log2 == 0 {
		return nil, fmt.Errorf("server allows no ring (max_log2_ring_size 0)")
	}
	// The HELLO maxima are indices, so 0 already allows one ring.
	nC2S := min(c.TxQueues, int(hello.MaxC2SRing)+1)
	nS2C := min(c.RxQueues, int(hello.MaxS2CRing)+1)
	l := ring.Layout{
		CacheLine:    c.CacheLine,
		Log2RingSize: log2,
		NumC2S:       nC2S,
		NumS2C:       nS2C,
		BufferSize:   uint32(c.BufferSize),
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	size := l.RegionSize()
	region, err := ring.CreateRegion("memif_region_0", size)
	if err != nil {
		return nil, err
	}
	s.regions = append(s.regions, region)
	offer := &control.Offer{Regions: []control.RegionOffer{{Size: size, FD: region.FD()}}}
	mem := [][]byte{region.Data}
	// ADD_RING order on the wire: all C2S rings, then all S2C rings.
	for _, d := range []ring.Direction{ring.C2S, ring.S2C} {
		n := nC2S
		if d == ring.S2C {
			n = nS2C
		}
		for i := range n {
			off := l.RingOffset(d, i)
			r, err := ring.NewRing(region.Data[off:], c.CacheLine, log2)
			if err != nil {
				return nil, err
			}
			r.Init()
			ev, err := ring.NewEventFD()
			if err != nil {
				return nil, err
			}
			s.events = append(s.events, ev)
			msg := control.AddRing{Index: uint16(i), Region: 0, Offset: off, Log2RingSize: log2}
			if d == ring.C2S {
				// The server is this ring's consumer: only it writes
				// MASK_INT here (DPDK's memif_connect and VPP's
				// memif_connect set it on their own rx rings); we never
				// mask it.
				msg.Flags = control.RingFlagC2S
			}
			rc := ring.Config{Role: ring.Client, Regions: mem, BufferSize: l.BufferSize, BufferBase: l.BufferOffset(d, i, 0)}
			if err := s.addRing(r, rc, ev, d == ring.C2S); err != nil {
				return nil, err
			}
			offer.Rings = append(offer.Rings, control.RingOffer{Msg: msg, FD: ev.FD()})
		}
	}
	s.armRx()
	return offer, nil
}

// resetRings resets every ring's consumer and producer to the indices in
// shared memory.
func (s *session) resetRings() {
	for _, tx := range s.tx {
		tx.Reset()
	}
	for _, rx := range s.rx {
		rx.Reset()
	}
}

// armRx sets MASK_INT on our receive rings as each queue's mode wants at
// connect: set for polling and adaptive (the reader polls first and
// unmasks before it sleeps), clear for interrupt mode. We are the consumer
// of these rings, the only side that writes their MASK_INT (as DPDK's
// memif_connect and VPP's memif_interface_rx_mode_change do for theirs).
func (s *session) armRx() {
	for i, rx := range s.rx {
		rx.SetInterrupt(i < len(s.h.rxq) && s.h.rxq[i].RxMode() == RxModeInterrupt)
	}
}

// scheduleReconnect starts the client's retry loop after its link went
// down. DPDK's client never reconnects; VPP's retries every 3 s and
// libmemif's examples every 2 s.
func (h *Handle) scheduleReconnect() {
	if h.cfg.ReconnectInterval < 0 {
		return
	}
	h.loops.Add(1)
	go func() {
		defer h.loops.Done()
		t := time.NewTimer(h.cfg.ReconnectInterval)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
			}
			s, err := h.dial(context.Background())
			h.refused(err)
			if err == nil {
				if reason := s.start(); reason != "" {
					s.abandon(reason)
					return
				}
				return
			}
			t.Reset(h.cfg.ReconnectInterval)
		}
	}()
}

// stopConnecting aborts a handshake in progress and leaves the server
// socket. Called by Close.
func (h *Handle) stopConnecting() {
	h.stateMu.Lock()
	d, ss := h.dialing, h.server
	h.server = nil
	h.stateMu.Unlock()
	if d != nil {
		d.Close()
	}
	if ss != nil {
		ss.srv.Unregister(h.cfg.ID)
		releaseServer(ss, h)
	}
}
