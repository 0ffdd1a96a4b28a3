package memifpcap

import (
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/sys/unix"
)

// merger is the state of the Handle-level reads when there are several
// receive queues: they take from the queues in turn, each queue under its
// own lock only while taking from it.
type merger struct {
	mu sync.Mutex // serializes the merged reads
	// next is the queue a read tries first: the one after the queue that
	// delivered last, so that a busy queue cannot starve the others.
	next int
	// held is 1 + the queue whose slot(s) the last merged read handed
	// out, or 0; they go back to the peer at the next merged read, whichever
	// queue that one reads, so that a held slot cannot block its queue.
	held int
	// downSeen says the merged read reported ErrLinkDown and has seen no
	// live link since: the other queues' reports of the same drop are
	// swallowed.
	downSeen bool
	// pfds and armed are the eventfds a sleeping read waits on and the
	// queues they belong to, reused.
	pfds  []unix.PollFd
	armed []*RxQueue
}

// mergedReadPacketData is ReadPacketData over every receive queue.
func (h *Handle) mergedReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	err = h.readMerged(false, true, func(q *RxQueue) error {
		var err error
		data, ci, err = q.readCopy(false)
		return err
	})
	return data, ci, err
}

// mergedReadPacketDataTo is ReadPacketDataTo over every receive queue.
func (h *Handle) mergedReadPacketDataTo(b []byte) (ci gopacket.CaptureInfo, err error) {
	err = h.readMerged(false, true, func(q *RxQueue) error {
		var err error
		ci, err = q.readTo(b, false)
		return err
	})
	return ci, err
}

// mergedZeroCopyReadPacketData is ZeroCopyReadPacketData over every
// receive queue.
func (h *Handle) mergedZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	err = h.readMerged(true, true, func(q *RxQueue) error {
		var err error
		data, ci, err = q.readZeroCopy(false)
		return err
	})
	return data, ci, err
}

// mergedReadBatch is ReadBatch (wait) or PollBatch over every receive
// queue.
func (h *Handle) mergedReadBatch(ms []Message, wait bool) (n int, err error) {
	if len(ms) == 0 {
		return 0, nil
	}
	err = h.readMerged(true, wait, func(q *RxQueue) error {
		var err error
		n, err = q.readBatchLocked(ms, false)
		return err
	})
	if !wait && err == errNoPacketYet {
		return 0, nil
	}
	return n, err
}

// readMerged runs try, a read of one queue that does not wait (it returns
// errNoPacketYet, or ErrLinkDown while the link is down) called with the
// queue's lock held, over the queues in turn until one delivers. With wait
// false it makes one round and returns errNoPacketYet if no queue had a
// frame. holds says a delivered frame's slot stays handed out until the
// next read.
func (h *Handle) readMerged(holds, wait bool, try func(*RxQueue) error) (err error) {
	m := &h.merge
	m.mu.Lock()
	defer m.mu.Unlock()
	if h.guarded() {
		// Every queue lock below is released by a defer, so a fault in a
		// client's memory (fault.go) unwinds cleanly.
		defer h.endGuard(debug.SetPanicOnFault(true), &err)
	}
	if m.held > 0 {
		h.rxq[m.held-1].releaseHeld()
		m.held = 0
	}
	w := mergeWait{h: h, m: m}
	defer w.disarm()
	for {
		i, err := h.mergeRound(try)
		switch {
		case err == nil:
			m.next = (i + 1) % len(h.rxq)
			if holds {
				m.held = i + 1
			}
			return nil
		case err == errNoPacketYet:
			if !wait {
				return err
			}
			err = w.noPacket()
		case err == ErrLinkDown:
			if !wait {
				return err
			}
			err = w.linkDown()
		default:
			return err
		}
		if err != nil {
			return err
		}
	}
}

// mergeRound tries every queue once, from m.next on. It returns the queue
// that delivered, or errNoPacketYet when a queue is up but had nothing,
// ErrLinkDown when every queue says the link is down, or a queue's error
// (io.EOF, or ErrLinkDown with its reason, reported once per drop).
func (h *Handle) mergeRound(try func(*RxQueue) error) (int, error) {
	m := &h.merge
	n := len(h.rxq)
	down := true
	for k := range n {
		i := (m.next + k) % n
		err := h.tryQueue(i, try)
		// nextPacket returns the down report unwrapped; a type switch
		// rather than errors.As, which would put its target on the heap.
		_, isDown := err.(*linkDownError)
		switch {
		case err == nil:
			m.downSeen = false
			return i, nil
		case err == errNoPacketYet:
			m.downSeen = false
			down = false
		case err == ErrLinkDown:
		case isDown:
			if m.downSeen {
				continue
			}
			m.downSeen = true
			h.swallowDown()
			return i, err
		default:
			return i, err
		}
	}
	if down {
		return 0, ErrLinkDown
	}
	return 0, errNoPacketYet
}

// tryQueue runs try on queue i under its lock.
func (h *Handle) tryQueue(i int, try func(*RxQueue) error) error {
	q := h.rxq[i]
	q.mu.Lock()
	defer q.mu.Unlock()
	return try(q)
}

// swallowDown drops the queues' pending reports of a link drop the merged
// read has just reported.
func (h *Handle) swallowDown() {
	for _, q := range h.rxq {
		q.mu.Lock()
		q.st.downReason = ""
		q.mu.Unlock()
	}
}

// releaseHeld hands the slot(s) the queue's last read handed out back to
// the peer, and unpins sessions whose memory a slice kept mapped.
func (q *RxQueue) releaseHeld() {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := &q.st
	if len(st.deferred) > 0 {
		st.unmapDeferred()
	}
	if st.held != nil {
		if s := q.h.sess.Load(); st.held == s {
			s.rx[q.id].ReleaseSome()
		}
		st.held = nil
	}
}

// mergeWait is how a merged read waits when no queue had a frame: as the
// queues' RxMode says, with ReadTimeout bounding the whole read.
type mergeWait struct {
	h *Handle
	m *merger
	// armed says the queues in m.armed have their interrupt unmasked and
	// were looked at once more since: the next wait sleeps.
	armed  bool
	rxMode RxMode
	dl     time.Time
	timed  bool
	spins  int
}

// deadline is computed the first time the read waits, as in nextPacket.
func (w *mergeWait) deadline() time.Time {
	if !w.timed {
		w.timed = true
		if t := w.h.cfg.ReadTimeout; t > 0 {
			w.dl = time.Now().Add(t)
		}
	}
	return w.dl
}

func (w *mergeWait) expired() bool {
	dl := w.deadline()
	return !dl.IsZero() && !time.Now().Before(dl)
}

// mode is the busiest receive mode of any queue: poll, then adaptive.
func (w *mergeWait) mode() RxMode {
	mode := RxModeInterrupt
	for _, q := range w.h.rxq {
		switch q.RxMode() {
		case RxModePoll:
			return RxModePoll
		case RxModeAdaptive:
			mode = RxModeAdaptive
		}
	}
	return mode
}

// linkDown waits for the link to come up, the Handle to close (io.EOF) or
// the deadline.
func (w *mergeWait) linkDown() error {
	h := w.h
	ch := h.stateChan()
	if s := h.sess.Load(); s != nil && !s.down.Load() {
		return nil
	}
	var timeout <-chan time.Time
	if dl := w.deadline(); !dl.IsZero() {
		left := time.Until(dl)
		if left <= 0 {
			return ErrTimeout
		}
		t := time.NewTimer(left)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
	case <-h.done:
		return io.EOF
	case <-timeout:
		return ErrTimeout
	}
	return nil
}

// noPacket waits a little for a frame on any queue: it spins (poll, and
// adaptive at first), or unmasks every queue's interrupt (the caller then
// looks once more: the peer may have published before it saw our request)
// and, on the next call, sleeps until any queue's eventfd is signalled.
func (w *mergeWait) noPacket() error {
	if w.armed {
		return w.sleep()
	}
	w.rxMode = w.mode()
	if w.rxMode == RxModePoll || (w.rxMode == RxModeAdaptive && w.spins < pollSpins) {
		w.spins++
		if w.spins%pollSpins == 0 && w.expired() {
			return ErrTimeout
		}
		runtime.Gosched()
		return nil
	}
	if w.expired() {
		return ErrTimeout
	}
	w.arm()
	return nil
}

// arm unmasks the interrupt of every queue the link carries, under that
// queue's lock: we are the consumer, the only side that writes MASK_INT.
func (w *mergeWait) arm() {
	m := w.m
	m.pfds, m.armed = m.pfds[:0], m.armed[:0]
	for _, q := range w.h.rxq {
		q.locked(func() {
			if s := w.h.sess.Load(); s != nil && !s.down.Load() && q.id < len(s.rx) {
				s.rx[q.id].SetInterrupt(true)
				m.pfds = append(m.pfds, unix.PollFd{Fd: int32(s.rx[q.id].ev.FD()), Events: unix.POLLIN})
				m.armed = append(m.armed, q)
			}
		})
	}
	w.armed = true
}

// sleep waits until any armed queue's eventfd is signalled, for at most
// sleepSlice (a lost wakeup cannot stall us, see sleepSlice) or until the
// deadline, then drains the signalled eventfds and counts the interrupts.
func (w *mergeWait) sleep() error {
	m := w.m
	slice := sleepSlice
	if dl := w.deadline(); !dl.IsZero() {
		left := time.Until(dl)
		if left <= 0 {
			return ErrTimeout
		}
		slice = min(slice, left)
	}
	// The eventfds belong to the session of arm's time: a teardown may
	// close one under us, which poll reports (POLLNVAL) or times out on;
	// draining below checks the session is still live first.
	ms := int((slice + time.Millisecond - 1) / time.Millisecond)
	_, err := unix.Poll(m.pfds, ms)
	if err != nil && err != unix.EINTR {
		return &os.SyscallError{Syscall: "poll", Err: err}
	}
	for k, q := range m.armed {
		if m.pfds[k].Revents&unix.POLLIN == 0 {
			continue
		}
		q.locked(func() {
			if s := w.h.sess.Load(); s != nil && !s.down.Load() && q.id < len(s.rx) && s.rx[q.id].ev.FD() == int(m.pfds[k].Fd) {
				s.rx[q.id].ev.Drain()
				q.stats.intrRecv.Add(1)
			}
		})
	}
	w.disarm()
	return nil
}

// disarm masks the interrupts arm unmasked again in adaptive mode, which
// polls first on the next wait; interrupt mode leaves them unmasked, as
// the single-queue read does.
func (w *mergeWait) disarm() {
	if !w.armed {
		return
	}
	w.armed = false
	if w.rxMode != RxModeAdaptive {
		return
	}
	for _, q := range w.m.armed {
		q.locked(func() {
			if s := w.h.sess.Load(); s != nil && !s.down.Load() && q.id < len(s.rx) {
				s.rx[q.id].SetInterrupt(false)
			}
		})
	}
}

// locked runs f with the queue's lock held, released even if f panics.
func (q *RxQueue) locked(f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f()
}
