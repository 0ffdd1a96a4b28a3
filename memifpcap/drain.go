package memifpcap

import (
	"context"
	"time"

	"github.com/memifpcap/memifpcap/control"
)

// Drain waits until the peer has taken every frame written so far, on
// every transmit queue: on a
// client, until the server consumed them; on a server, until the client read
// them and handed the buffers back. Call it before Close when the last
// frames matter: closing tears the link down, and frames still in the ring
// are lost with it. It returns ctx.Err() when ctx ends first, and an error
// wrapping ErrLinkDown (ErrClosed after Close) when the link goes down first.
//
// memif signals no consumption, so Drain polls, with short sleeps.
func (h *Handle) Drain(ctx context.Context) error {
	var first *session // the link whose frames are being drained
	wt := txWait{ctx: ctx, maxSleep: time.Millisecond}
	for {
		if h.closed.Load() {
			return ErrClosed
		}
		// A session still current under a queue's lock is still mapped
		// (teardown takes every queue lock first), even if it is going
		// down.
		q0 := h.txq[0]
		q0.mu.Lock()
		s := h.sess.Load()
		if first == nil {
			first = s
			if first == nil {
				// The peer may have taken everything and left before
				// this first look.
				first = h.lastTorn.Load()
			}
		}
		// corrupt: InFlight found an impossible peer index (-1), which
		// must not be summed with the other queues' counts.
		left, corrupt := -1, false
		if s != nil && s == first {
			left = q0.inFlight(s)
			corrupt = left < 0
			left = max(left, 0)
		}
		q0.mu.Unlock()
		for _, q := range h.txq[1:] {
			if left < 0 {
				break
			}
			q.mu.Lock()
			if s := h.sess.Load(); s == first && s != nil {
				n := q.inFlight(s)
				corrupt = corrupt || n < 0
				left += max(n, 0)
			} else {
				left = -1
			}
			q.mu.Unlock()
		}
		if corrupt {
			first.fail(control.ReasonCorruptRing, true)
			return &linkDownError{reason: "the peer corrupted a transmit ring's index"}
		}
		if left != 0 && first != nil {
			// A peer that took every frame and then left has drained
			// the ring all the same: teardown noted what was left.
			select {
			case <-first.torn:
				left = int(first.txLeft.Load())
				if left != 0 {
					left = -1
				}
			default:
				// teardown notes txLeft under the queue locks but closes torn
				// later: wait for it.
				left = 1
			}
		}
		switch {
		case left == 0:
			return nil
		case left < 0:
			return ErrLinkDown
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

// inFlight is how many frames on this queue of s the peer has not taken,
// with the queue's lock held: 0 for a queue s does not carry, -1 when the
// peer's index is impossible or its memory faulted (which ends s).
func (q *TxQueue) inFlight(s *session) int {
	if q.id >= len(s.tx) {
		return 0
	}
	if !q.h.guarded() {
		return s.tx[q.id].InFlight()
	}
	n := -1
	if touchPeer(func() { n = s.tx[q.id].InFlight() }) {
		s.fail(control.ReasonMemoryFault, true)
		return -1
	}
	return n
}
