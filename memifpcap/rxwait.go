package memifpcap

import (
	"runtime"
	"time"
)

// How a reader waits for the next packet: poll the ring a little (the peer
// is often mid-burst), then unmask the interrupt and sleep on the eventfd.
// The sleep is cut into slices so that a lost wakeup cannot stall us: a C
// peer publishes its index and reads our MASK_INT flag without a full fence
// between them, and so does a memifpcap server to a client that was
// polling (ring.Tx.Publish), so a signal can be skipped in the instant we
// unmask.
const (
	pollSpins  = 64
	sleepSlice = 20 * time.Millisecond
)

// rxWait is the wait policy of one read: what it does each time the ring
// has nothing, by the queue's RxMode, and its ReadTimeout.
//
// The deadline is computed the first time the read has to wait, not on
// entry: a read that finds a packet ready reads no clock (time.Now costs as
// much as taking a packet off the ring). The microseconds spent polling
// before that do not count against ReadTimeout.
type rxWait struct {
	q     *RxQueue
	dl    time.Time
	spins int
	// armed: the ring's interrupt is unmasked for this wait, and the
	// ring was (or is being) looked at once more before sleeping.
	armed bool
	// final: the deadline passed during a sleep; the read looks once
	// more (the packet may have come with the deadline), then times out.
	final bool
}

// deadline is the read's deadline, or zero without a ReadTimeout.
func (w *rxWait) deadline() time.Time {
	if w.dl.IsZero() && w.q.h.cfg.ReadTimeout > 0 {
		w.dl = time.Now().Add(w.q.h.cfg.ReadTimeout)
	}
	return w.dl
}

func (w *rxWait) expired() bool {
	return !w.deadline().IsZero() && !time.Now().Before(w.dl)
}

// got is told that a packet was taken: an adaptive read that had unmasked
// the interrupt masks it again (it polls first next time).
func (w *rxWait) got(s *session) {
	if w.armed && w.q.RxMode() == RxModeAdaptive {
		s.rx[w.q.id].SetInterrupt(false)
	}
	w.armed = false
}

// pause is called, with the queue lock held, each time s's ring had
// nothing: poll mode spins with MASK_INT set (the peer never signals);
// adaptive spins a little, then sleeps like interrupt mode, which unmasks
// the interrupt, looks once more (the peer may have published before it
// saw our request), then sleeps on the eventfd. The sleep is cut into
// slices so that a lost wakeup cannot stall us. It returns nil to look
// again, ErrTimeout when the read's deadline passed.
func (w *rxWait) pause(s *session) error {
	if w.final {
		return ErrTimeout
	}
	q := w.q
	rx := s.rx[q.id]
	mode := q.RxMode()
	switch {
	case mode == RxModePoll:
		// Only the deadline is checked, and not on every spin.
		rx.SetInterrupt(false)
		w.spins++
		if w.spins%pollSpins == 0 && w.expired() {
			return ErrTimeout
		}
		runtime.Gosched()
		return nil
	case mode == RxModeAdaptive && w.spins < pollSpins:
		w.spins++
		runtime.Gosched()
		return nil
	case !w.armed:
		rx.SetInterrupt(true)
		w.armed = true
		return nil
	}
	slice := sleepSlice
	if dl := w.deadline(); !dl.IsZero() {
		left := time.Until(dl)
		if left <= 0 {
			w.got(s) // re-mask as if done
			return ErrTimeout
		}
		slice = min(slice, left)
	}
	werr := rx.ev.Wait(slice)
	w.got(s)
	if werr == nil {
		w.spins = 0
		if !s.down.Load() {
			q.stats.intrRecv.Add(1)
		}
	}
	w.final = w.expired()
	return nil
}
