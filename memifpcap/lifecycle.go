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

// The life of a link, in one place.
//
// A session is one connected link: the control channel, the mapped
// regions, the queues (rxLink, txLink) and their eventfds. It lives from
// CONNECT(ED) until either side disconnects; a reconnect makes a new one.
//
//   - Up: a client's dial (client.go) or a server's Connect (server.go)
//     builds it; start makes it the Handle's current session (h.sess) and
//     starts its monitor, which reads the control channel.
//   - Going down: anyone calls fail(reason): the monitor on DISCONNECT or
//     EOF, a reader that met an impossible ring index, a writer that met a
//     bad descriptor, a fault in the peer's memory (fault.go), Close. fail
//     sets down, wakes the readers sleeping on an interrupt and closes the
//     control channel, which ends the monitor.
//   - Torn down: only the monitor runs teardown. It takes every queue lock
//     (receive queues, then transmit queues, by index), so every reader
//     and writer has left the rings; counts what the peer had not taken
//     (TxLost); tells each queue (sessionEnded), so that its next read
//     reports the drop once; closes the eventfds; counts the disconnect;
//     then unlocks and, on a client, schedules the reconnect.
//
// The pin rules. The regions stay mapped while anyone may still touch them;
// pins counts those holders, from teardown on:
//   - teardown itself, until it is done with the rings;
//   - a reader whose last read handed out views into them
//     (ZeroCopyReadPacketData, ReadBatch, PollBatch: rxState.held, moved
//     to rxState.deferred at teardown), until that reader's next read, of
//     any kind, including the one that returns io.EOF after Close;
//   - a FrameWriter building a frame in one of their slots (txState.owner,
//     moved to txState.orphans at teardown), until its next call.
// The last unpin unmaps. Nothing else unmaps a live session's memory:
// Close ends the session like any other ending, so a slice handed out
// stays valid for its documented life whatever the peer does.

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
	// The peer's application name (HELLO or INIT) and interface name
	// (CONNECT or CONNECTED).
	peerName, peerIfName string

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

// close ends s for Close and waits for its teardown. First it hands back
// the slots of every frame read, those the last zero-copy reads still hold
// and those reads keep to hand back in a batch, so that a peer draining
// its rings sees every frame we took before the link goes (the bytes of
// such a slot may then change; the memory stays mapped, see the pin
// rules). A reader blocked in a read holds its lock, and has handed back
// every slot before it waited.
func (s *session) close() { s.closeWith(control.ReasonDeviceClosed) }

// closeWith is close, sending reason to the peer (see Handle.Disconnect).
func (s *session) closeWith(reason string) {
	for _, q := range s.h.rxq {
		if q.mu.TryLock() {
			// Also the slots of frames read and copied: reads hand
			// them back in batches (ring.Rx.ReleaseSome).
			if q.st.last == s && !s.down.Load() && q.id < len(s.rx) {
				touchPeer(s.rx[q.id].Release) // a fault: the link ends anyway
			}
			q.mu.Unlock()
		}
	}
	s.fail(reason, true)
	<-s.torn
}

// untaken is how many frames written on s the peer has not taken yet,
// over every transmit queue. Once s is torn down it is what teardown found:
// 0 when the peer took everything before the link went, else an error
// wrapping ErrLinkDown; so is an impossible transmit index, which ends s.
func (s *session) untaken() (int, error) {
	select {
	case <-s.torn:
		if left := s.txLeft.Load(); left != 0 {
			return 0, &linkDownError{reason: fmt.Sprintf("the peer had not taken %s when the link went down", untakenString(left))}
		}
		return 0, nil
	default:
	}
	n := 0
	for _, q := range s.h.txq {
		q.mu.Lock()
		// Current under a queue lock: teardown has not begun, the rings
		// are mapped. Otherwise wait for teardown's count.
		c := 1
		if s.h.sess.Load() == s {
			c = q.inFlight(s)
		}
		q.mu.Unlock()
		if c < 0 {
			s.fail(control.ReasonCorruptRing, true)
			return 0, &linkDownError{reason: "the peer corrupted a transmit ring's index"}
		}
		n += c
	}
	return n, nil
}

func untakenString(left int64) string {
	if left < 0 {
		return "frames behind a corrupt ring index"
	}
	if left == 1 {
		return "1 frame"
	}
	return fmt.Sprintf("%d frames", left)
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

// sessionEnded is called by teardown with the queue's lock held, before the session's
// memory goes away. It reports whether a zero-copy slice still points into
// the session's regions: then the reader holds a pin on them, which it
// drops on the next read or at Close.
func (st *rxState) sessionEnded(s *session) (held bool) {
	if st.last == s {
		st.last = nil
		st.downReason = s.reason
	}
	if st.held == s {
		st.held = nil
		st.deferred = append(st.deferred, s)
		return true
	}
	return false
}

func (st *rxState) unmapDeferred() {
	for i, s := range st.deferred {
		s.unpin()
		st.deferred[i] = nil
	}
	st.deferred = st.deferred[:0]
}

// sessionEnded is called by teardown with the queue's lock held. It reports whether a
// FrameWriter holds a slot in s, whose regions must then stay mapped.
func (st *txState) sessionEnded(s *session) (held bool) {
	if st.owner == nil || st.ownerSess != s {
		return false
	}
	st.orphans = append(st.orphans, orphan{st.owner, s})
	st.owner, st.ownerSess = nil, nil
	return true
}

// release unpins the orphaned sessions of w.
func (st *txState) release(w *FrameWriter) {
	kept := st.orphans[:0]
	for _, o := range st.orphans {
		if o.w == w {
			o.s.unpin()
		} else {
			kept = append(kept, o)
		}
	}
	clear(st.orphans[len(kept):])
	st.orphans = kept
}
