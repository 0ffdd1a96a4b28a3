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
	s.tx.Reset()
	s.rx.Reset()
	return s, nil
}

// planClient lays out region 0 the way DPDK and VPP clients do in copy
// mode (rings, then buffers), within the limits of the server's HELLO.
func (s *session) planClient(hello control.Hello) (*control.Offer, error) {
	c := s.h.cfg
	log2 := min(c.log2, hello.MaxLog2RingSize)
	if log2 == 0 {
		return nil, fmt.Errorf("server allows no ring (max_log2_ring_size 0)")
	}
	// One queue pair: the HELLO maxima are indices, so 0 already allows one.
	l := ring.Layout{
		CacheLine:    c.CacheLine,
		Log2RingSize: log2,
		NumC2S:       1,
		NumS2C:       1,
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
		off := l.RingOffset(d, 0)
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
		msg := control.AddRing{Index: 0, Region: 0, Offset: off, Log2RingSize: log2}
		rc := ring.Config{Role: ring.Client, Regions: mem, BufferSize: l.BufferSize, BufferBase: l.BufferOffset(d, 0, 0)}
		if d == ring.C2S {
			msg.Flags = control.RingFlagC2S
			if s.tx, err = ring.NewTx(r, rc); err != nil {
				return nil, err
			}
			s.txEvent = ev
			s.txRing = r
		} else {
			if s.rx, err = ring.NewRx(r, rc); err != nil {
				return nil, err
			}
			// We poll first; the reader unmasks before it sleeps.
			s.rx.SetInterrupt(false)
			s.rxEvent = ev
			s.rxRing = r
		}
		offer.Rings = append(offer.Rings, control.RingOffer{Msg: msg, FD: ev.FD()})
	}
	return offer, nil
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
