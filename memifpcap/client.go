package memifpcap

import (
	"context"
	"fmt"
	"time"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/ring"
)

func (h *Handle) openClient() error {
	s, err := h.dial()
	if err != nil {
		return err
	}
	if reason := s.start(); reason != "" {
		s.abandon(reason)
		return fmt.Errorf("memif: %s", reason)
	}
	return nil
}

// dial connects to the server and runs the client handshake. On success
// the session's rings are live but it is not yet the Handle's.
func (h *Handle) dial() (*session, error) {
	c := h.cfg
	ctx, cancel := context.WithTimeout(context.Background(), c.HandshakeTimeout)
	conn, err := control.Dial(ctx, c.addr)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("memif: connect to %s: %w", c.addr, err)
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

	s := newSession(h, conn)
	_, err = control.ClientHandshake(conn, control.ClientParams{
		ID:          c.ID,
		Mode:        c.Mode,
		Secret:      c.Secret,
		Name:        c.Name,
		IfName:      c.IfName,
		StepTimeout: c.HandshakeTimeout,
	}, s.planClient)
	if err != nil {
		conn.Close()
		s.release()
		return nil, fmt.Errorf("memif: %s id %d: %w", c.addr, c.ID, err)
	}
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
			rc := ring.Config{Role: ring.Client, Regions: mem, BufferSize: l.BufferSize, BufferBase: l.BufferOffset(d, i, 0)}
			if d == ring.C2S {
				msg.Flags = control.RingFlagC2S
				tx, err := ring.NewTx(r, rc)
				if err != nil {
					return nil, err
				}
				// The server is this ring's consumer: only it writes
				// MASK_INT here (§2.8); we never mask it.
				s.tx = append(s.tx, tx)
				s.txEvents = append(s.txEvents, ev)
				s.txRings = append(s.txRings, r)
			} else {
				rx, err := ring.NewRx(r, rc)
				if err != nil {
					return nil, err
				}
				s.rx = append(s.rx, rx)
				s.rxEvents = append(s.rxEvents, ev)
				s.rxRings = append(s.rxRings, r)
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
// of these rings, the only side that writes their MASK_INT (§2.8).
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
			s, err := h.dial()
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
		releaseServer(ss)
	}
}
