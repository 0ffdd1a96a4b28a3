package memifpcap

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/ring"
)

// noDeadline makes a control read wait as long as the channel is open.
var noDeadline time.Time

// session is one connected link: the control channel, the mapped regions,
// the rings and their eventfds. It lives from CONNECT(ED) until either side
// disconnects; a reconnect makes a new one.
//
// Only the monitor goroutine tears a session down. Everyone else asks for it
// with fail, which closes the control channel under the monitor's feet.
type session struct {
	h    *Handle
	conn *control.Conn

	regions []*ring.Region
	events  []*ring.EventFD
	// unsealed: a region can be shrunk by the peer (see fault.go).
	unsealed bool

	// Queue i of each direction (see rxLink, txLink). A server's client
	// may connect fewer queues than the Handle has.
	rx []*rxLink
	tx []*txLink

	down     atomic.Bool // set first thing at teardown; readers and writers check it
	failOnce sync.Once
	reason   string        // why it went down; written before conn is closed
	torn     chan struct{} // closed when teardown is complete
	txLeft   atomic.Int64  // frames the peer had not taken at teardown

	// pins counts, from teardown on, who still needs the regions mapped:
	// teardown itself, plus the reader if a zero-copy slice points into
	// them, plus a FrameWriter building a frame in one of their slots. The
	// last unpin unmaps them.
	pins atomic.Int32
}

// unpin drops one hold on the regions of a torn-down session and unmaps
// them when it was the last.
func (s *session) unpin() {
	if s.pins.Add(-1) == 0 {
		for _, r := range s.regions {
			r.Close()
		}
	}
}

func newSession(h *Handle, conn *control.Conn) *session {
	return &session{h: h, conn: conn, torn: make(chan struct{})}
}

// rxLink is receive queue i of a session: the ring the peer fills for us
// (S2C on a client, C2S on a server), our consumer of it, and its
// interrupt, which the peer signals and we wait on.
type rxLink struct {
	*ring.Rx
	ring *ring.Ring
	ev   *ring.EventFD
	// badBase is the queue's bad-descriptor count when the session
	// started, so that the counter stays cumulative across sessions.
	badBase uint64
}

// txLink is transmit queue i of a session: the ring we fill for the peer,
// our producer of it, and its interrupt, which we signal.
type txLink struct {
	*ring.Tx
	ring *ring.Ring
	ev   *ring.EventFD
}

// addRing adds the next queue of a direction to s, the same way for both
// roles: r is the ring (in mapped memory), rc how to reach its buffers, ev
// its interrupt (s.events owns it). c2s says which way the ring runs;
// whether we consume or produce it follows from our role.
func (s *session) addRing(r *ring.Ring, rc ring.Config, ev *ring.EventFD, c2s bool) error {
	if c2s == (rc.Role == ring.Server) {
		i := len(s.rx)
		if i >= len(s.h.rxq) {
			return errRingIndex
		}
		rx, err := ring.NewRx(r, rc)
		if err != nil {
			return err
		}
		s.rx = append(s.rx, &rxLink{Rx: rx, ring: r, ev: ev, badBase: s.h.rxq[i].stats.badDescs.Load()})
		return nil
	}
	if len(s.tx) >= len(s.h.txq) {
		return errRingIndex
	}
	tx, err := ring.NewTx(r, rc)
	if err != nil {
		return err
	}
	s.tx = append(s.tx, &txLink{Tx: tx, ring: r, ev: ev})
	return nil
}

// errRingIndex: a ring beyond the Handle's queues.
var errRingIndex = errors.New(control.ReasonRingIndex)

// fail asks for the session to end. sendDisconnect sends the reason to the
// peer first, as DPDK and VPP do.
func (s *session) fail(reason string, sendDisconnect bool) {
	s.failOnce.Do(func() {
		s.reason = reason
		if sendDisconnect {
			_ = s.conn.Send(control.Disconnect{Reason: reason}, -1)
		}
		s.down.Store(true)
		// Wake the readers blocked on an interrupt; they see down and
		// leave.
		for _, l := range s.rx {
			_ = l.ev.Signal()
		}
		s.conn.Close()
	})
}

// start makes s the Handle's current session and starts its monitor. It
// refuses, returning the reason to send the peer, when the Handle is closed
// or another session is live.
func (s *session) start() string {
	h := s.h
	h.stateMu.Lock()
	if h.closed.Load() {
		h.stateMu.Unlock()
		return control.ReasonDeviceClosed
	}
	if h.sess.Load() != nil {
		h.stateMu.Unlock()
		return control.ReasonAlreadyConnected
	}
	h.sess.Store(s)
	h.loops.Add(1)
	h.stateMu.Unlock()
	h.stats.connects.Add(1)
	h.stateChanged()
	go func() {
		defer h.loops.Done()
		s.monitor()
	}()
	return ""
}

// abandon ends a session that completed its handshake but never started.
func (s *session) abandon(reason string) {
	_ = s.conn.Send(control.Disconnect{Reason: reason}, -1)
	s.conn.Close()
	s.release()
}

// monitor reads the control channel after the handshake. The only message a
// peer may send now is DISCONNECT; EOF means it left without one (DPDK
// does that on quit).
func (s *session) monitor() {
	reason := ""
	for {
		m, fd, err := s.conn.Recv(noDeadline)
		if fd >= 0 {
			closeFD(fd)
		}
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				reason = "peer closed the control channel"
			default:
				reason = fmt.Sprintf("control channel: %v", err)
			}
			break
		}
		if d, ok := m.(control.Disconnect); ok {
			reason = fmt.Sprintf("peer disconnected: %s", d.Reason)
			break
		}
		s.fail(control.ReasonUnexpected, true)
		reason = fmt.Sprintf("peer sent %v after the handshake", m.Type())
		break
	}
	s.fail(reason, false)
	s.teardown()
}

// teardown unmaps and closes everything. It waits for the readers and the
// writers to leave the rings: all check down under their queue's lock, and
// the readers were woken by fail's signals. Regions that a zero-copy slice or a
// FrameWriter's reserved slot still points into stay mapped until those let
// go (see pins).
func (s *session) teardown() {
	h := s.h
	// Every queue lock, always in this order: receive queues, then
	// transmit queues, each by index.
	for _, q := range h.rxq {
		q.mu.Lock()
	}
	for _, q := range h.txq {
		q.mu.Lock()
	}
	if h.sess.Load() == s {
		h.sess.Store(nil)
	}
	// What the peer had not taken when the link went: Drain's answer.
	left := 0
	for i := range s.tx {
		n := h.txq[i].inFlight(s)
		if n < 0 { // an impossible peer index: nothing can be said
			left = -1
			break
		}
		left += n
		if n > 0 && i < len(h.txq) {
			c := &h.txq[i].stats
			c.txLost.Add(uint64(n))
			c.txDropped.Add(uint64(n))
		}
	}
	s.txLeft.Store(int64(left))
	h.lastTorn.Store(s)
	pins := int32(1)
	for _, q := range h.rxq {
		if q.st.sessionEnded(s) {
			pins++
		}
	}
	for _, q := range h.txq {
		if q.st.sessionEnded(s) {
			pins++
		}
	}
	s.pins.Store(pins)
	for _, e := range s.events {
		e.Close()
	}
	s.unpin()
	// Counted before any reader can report the drop (they wait for the
	// queue locks held here), so Stats read after ErrLinkDown includes it.
	h.stats.disconnects.Add(1)
	for _, q := range h.txq {
		q.mu.Unlock()
	}
	for _, q := range h.rxq {
		q.mu.Unlock()
	}
	close(s.torn)
	h.stateChanged()
	if h.cfg.Role == RoleClient && !h.closed.Load() {
		h.scheduleReconnect()
	}
}

// release frees what a session that never started holds.
func (s *session) release() {
	for _, e := range s.events {
		e.Close()
	}
	for _, r := range s.regions {
		r.Close()
	}
}
