package memifpcap

import (
	"context"
	"time"

	"github.com/memifpcap/memifpcap/control"
)

// Drain waits until the peer has taken every frame written so far, on
// every transmit queue: on a client, until the server consumed them; on a
// server, until the client read them and handed the buffers back. Call it before Close when the last
// frames matter: closing tears the link down, and frames still in the ring
// are lost with it. It returns ctx.Err() when ctx ends first, and an error
// wrapping ErrLinkDown (ErrClosed after Close) when the link goes down first.
//
// memif signals no consumption, so Drain polls, with short sleeps.
func (h *Handle) Drain(ctx context.Context) error {
	// The link whose frames are drained: the current one, or the one that
	// just went (its peer may have taken everything before it left).
	s := h.sess.Load()
	if s == nil {
		s = h.lastTorn.Load()
	}
	if s == nil {
		return ErrLinkDown
	}
	wt := txWait{ctx: ctx, maxSleep: time.Millisecond}
	for {
		if h.closed.Load() {
			return ErrClosed
		}
		n, err := s.untaken()
		if err != nil || n == 0 {
			return err
		}
		if err := wt.pause(); err != nil {
			return err
		}
	}
}

// TxInFlight is how many frames written on the current link the peer has
// not taken yet, over every transmit queue: 0 while the link is down
// (frames in the rings when it went down count in Stats().TxLost).
func (h *Handle) TxInFlight() int {
	n := 0
	for _, q := range h.txq {
		q.mu.Lock()
		if s := h.sess.Load(); s != nil && !s.down.Load() {
			n += max(q.inFlight(s), 0)
		}
		q.mu.Unlock()
	}
	return n
}

// inFlight is how many frames (a chain counts once) on this queue of s the
// peer has not taken,
// with the queue's lock held: 0 for a queue s does not carry, -1 when the
// peer's index is impossible or its memory faulted (which ends s).
func (q *TxQueue) inFlight(s *session) int {
	if q.id >= len(s.tx) {
		return 0
	}
	if !q.h.guarded() {
		return s.tx[q.id].FramesInFlight()
	}
	n := -1
	if touchPeer(func() { n = s.tx[q.id].FramesInFlight() }) {
		s.fail(control.ReasonMemoryFault, true)
		return -1
	}
	return n
}
