package memifflag

import (
	"context"
	"errors"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// SignalIdle is how long the drain after a signal waits for a peer that
// takes nothing: a peer that reads takes a whole ring in far less, one that
// stopped reading is given up about this long after the signal.
const SignalIdle = 100 * time.Millisecond

// ErrStalled is Drain's error when the peer stopped taking frames.
var ErrStalled = errors.New("the peer stopped taking frames")

// drainStep is how often Drain looks at the peer's progress and the
// signals.
const drainStep = 10 * time.Millisecond

// Drain waits until the peer has taken every frame written on h
// (Handle.Drain), as long as it keeps taking them: when it took none for
// idle (0: no limit), Drain returns ErrStalled. Once stop has ended (a
// first signal), idle is SignalIdle at most, so a peer that stopped
// reading does not hold the tool; when hurry ends (a second signal),
// Drain returns at once with its error. A link that goes down first gives
// an error wrapping memifpcap.ErrLinkDown. What the peer never took is
// then counted by Close (Stats().TxLost).
func Drain(stop, hurry context.Context, h *memifpcap.Handle, idle time.Duration) error {
	left, last := h.TxInFlight(), time.Now()
	for {
		ctx, cancel := context.WithTimeout(hurry, drainStep)
		err := h.Drain(ctx)
		cancel()
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			return err // done, the link went down, or hurry ended
		}
		now := time.Now()
		if n := h.TxInFlight(); n < left {
			left, last = n, now
		}
		limit := idle
		if stop.Err() != nil && (limit <= 0 || limit > SignalIdle) {
			limit = SignalIdle
		}
		if limit > 0 && now.Sub(last) >= limit {
			return ErrStalled
		}
	}
}
