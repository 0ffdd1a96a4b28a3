package memifpcap

import (
	"context"
	"time"
)

// Drain waits until the peer has taken every frame written so far: on a
// client, until the server consumed them; on a server, until the client read
// them and handed the buffers back. Call it before Close when the last
// frames matter: closing tears the link down, and frames still in the ring
// are lost with it. It returns ctx.Err() when ctx ends first, and an error
// wrapping ErrLinkDown (ErrClosed after Close) when the link goes down first.
//
// memif signals no consumption, so Drain polls, with short sleeps.
func (h *Handle) Drain(ctx context.Context) error {
	for sleep := time.Microsecond; ; sleep = min(2*sleep, time.Millisecond) {
		if h.closed.Load() {
			return ErrClosed
		}
		h.txMu.Lock()
		s := h.sess.Load()
		left := -1
		if s != nil && !s.down.Load() {
			left = s.tx.InFlight()
		}
		h.txMu.Unlock()
		switch {
		case left == 0:
			return nil
		case left < 0:
			return ErrLinkDown
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sleep):
		}
	}
}
