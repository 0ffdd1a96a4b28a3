package memifpcap

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/google/gopacket"

	"github.com/memifpcap/memifpcap/internal/atomicx"
	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/ring"
)

// FrameWriter builds frames in place in the Handle's transmit ring. It is a
// gopacket.SerializeBuffer whose memory is the next transmit slot, in the
// shared memory the peer reads:
//
//	w := h.NewFrameWriter()
//	if err := gopacket.SerializeLayers(w, opts, eth, ip, udp, payload); err != nil {
//		w.Discard()
//		return err
//	}
//	err := w.Send()
//
// The first PrependBytes or AppendBytes of a frame reserves the slot
// (waiting, like WritePacketData, up to WriteTimeout for room); the frame
// is built from the back of the slot forwards, as SerializeLayers prepends
// the innermost layer first, with room behind it for Ethernet's padding
// (see layersglue.SlotBuffer). Send turns it into a descriptor and
// publishes it; nothing is copied. Differences from a copy:
//
//   - A client describes the frame where it lies (the descriptor's offset
//     points into its buffer; DPDK, VPP and libmemif servers read it). A
//     server may not move its client's buffers, so it moves the frame to
//     the start of the slot when it queues it: a memmove inside the slot.
//   - A frame larger than one slot continues in a staging buffer the
//     FrameWriter owns and reuses, and is copied into a chain of
//     descriptors when queued, as WritePacketData does. Frames of the same
//     size again do not allocate.
//
// Batches: Queue commits the frame without publishing it, and the next
// frame goes into the next slot; Flush publishes every queued frame with one
// store of the ring index and at most one interrupt, as DPDK and VPP
// publish a burst. (If the ring fills up, what is queued is published early,
// or the peer could never make room.) Send is Queue then Flush.
//
// From its first byte until Queue, Send or Discard, a frame holds the next
// slot of its queue's ring: every other write on that queue (WritePacketData,
// other FrameWriters) waits for it, up to WriteTimeout. So always end a
// frame with one of those three, Discard when serializing failed, and do
// not call other writes of the same Handle in between from the same
// goroutine.
//
// Slices returned by PrependBytes, AppendBytes and Bytes point into the
// slot; they are valid until the frame is queued, sent, discarded or
// cleared, or the Handle is closed. If the link goes down meanwhile, the
// slot stays mapped until then, and Queue or Send reports ErrLinkDown.
//
// A FrameWriter is for one goroutine at a time; a queue may have several.
// Per frame, it does not allocate.
type FrameWriter struct {
	q   *TxQueue
	buf layersglue.SlotBuffer

	// Touched only by the goroutine using the FrameWriter, under the queue's lock
	// when they relate to the ring.
	holding bool     // a slot is reserved for the frame (lost if teardown took it)
	sess    *session // the session of that slot and of the queued frames
	queued  uint64   // frames queued on sess, not yet published
	qBytes  uint64   // their bytes
	lost    uint64   // queued frames lost with their session since the last Flush
}

var _ gopacket.SerializeBuffer = (*FrameWriter)(nil)

// NewFrameWriter returns a FrameWriter for transmit queue 0 of h.
func (h *Handle) NewFrameWriter() *FrameWriter {
	return h.txq[0].NewFrameWriter()
}

// NewFrameWriter returns a FrameWriter for this queue.
func (q *TxQueue) NewFrameWriter() *FrameWriter {
	return &FrameWriter{q: q}
}

// PrependBytes returns num bytes in front of the frame, in the transmit
// slot; the first call of a frame reserves the slot. Errors: those of
// WritePacketData (ErrLinkDown, ErrTimeout, ErrClosed) when no slot can be
// reserved.
func (w *FrameWriter) PrependBytes(num int) ([]byte, error) {
	if w.closedUnder() {
		return nil, ErrClosed
	}
	if !w.holding && num >= 0 {
		if err := w.q.transmit(context.Background(), w, opReserve, nil); err != nil {
			return nil, err
		}
	}
	return w.buf.PrependBytes(num)
}

// AppendBytes returns num bytes behind the frame, in the transmit slot;
// the first call of a frame reserves the slot, as for PrependBytes.
func (w *FrameWriter) AppendBytes(num int) ([]byte, error) {
	if w.closedUnder() {
		return nil, ErrClosed
	}
	if !w.holding && num >= 0 {
		if err := w.q.transmit(context.Background(), w, opReserve, nil); err != nil {
			return nil, err
		}
	}
	return w.buf.AppendBytes(num)
}

// Bytes returns the frame built so far.
func (w *FrameWriter) Bytes() []byte { return w.buf.Bytes() }

// Clear empties the frame, keeping the slot it reserved, if any.
// gopacket.SerializeLayers calls it first.
func (w *FrameWriter) Clear() error { return w.buf.Clear() }

// Layers returns the layers serialized into the frame.
func (w *FrameWriter) Layers() []gopacket.LayerType { return w.buf.Layers() }

// PushLayer records a serialized layer.
func (w *FrameWriter) PushLayer(t gopacket.LayerType) { w.buf.PushLayer(t) }

// Send queues the frame and publishes it, with everything queued before
// it, to the peer: Queue then Flush, under one lock. If the frame cannot be
// queued, what was queued before is still published, and the error is
// Queue's, joined with Flush's if that failed too.
func (w *FrameWriter) Send() error {
	var err error
	if !w.holding {
		err = errNothingQueued
	} else if err = w.q.transmit(context.Background(), w, opSend, nil); err == nil {
		return w.lostError()
	} else if w.holding {
		w.q.mu.Lock()
		w.dropSlot()
		w.q.mu.Unlock()
	}
	if ferr := w.Flush(); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

// errNothingQueued is what Queue and Send return when no byte of a frame
// was written.
var errNothingQueued = fmt.Errorf("memif: frame writer: nothing to queue: %w", ring.ErrEmptyFrame)

// Queue commits the frame to its slot without publishing it, and frees the
// Handle's other writers; the FrameWriter is empty again, and its next
// frame goes into the next slot. Flush publishes the queued frames.
//
// Errors: an error wrapping ErrEmptyFrame when no byte was written;
// ErrLinkDown when the link went down since the slot was reserved; for a
// frame larger than a slot, those of WritePacketData (ErrTimeout when the
// ring has no room for the chain; an error wrapping ErrFrameTooLarge).
// The frame is dropped then, and counted in Stats().TxDropped (unless it
// was empty).
func (w *FrameWriter) Queue() error {
	if !w.holding {
		return errNothingQueued
	}
	err := w.q.transmit(context.Background(), w, opQueue, nil)
	if err != nil && w.holding {
		// transmit gave up (timeout, Close) while we still held the slot.
		w.q.mu.Lock()
		w.dropSlot()
		w.q.mu.Unlock()
	}
	return err
}

// Flush publishes every queued frame with one store of the ring index and
// signals the peer's interrupt once, if it asked for interrupts. It
// reports, wrapping ErrLinkDown, queued frames that were lost because the
// link went down before they were published.
func (w *FrameWriter) Flush() error {
	if w.queued == 0 && w.lost == 0 {
		return nil
	}
	if err := w.flushOnce(); err != nil {
		return err
	}
	return w.lostError()
}

// flushOnce publishes the queued frames under the queue's lock.
func (w *FrameWriter) flushOnce() (err error) {
	q := w.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.h.guarded() {
		defer q.h.endGuard(debug.SetPanicOnFault(true), &err)
	}
	w.publishLocked()
	return nil
}

// publishLocked publishes the queued frames, with the queue's lock held, or counts them
// as lost if their session is gone.
func (w *FrameWriter) publishLocked() {
	if w.queued == 0 {
		return
	}
	q := w.q
	if s := q.h.sess.Load(); s != nil && s == w.sess && !s.down.Load() {
		q.publish(s)
		atomicx.Bump(&q.stats.txPackets, w.queued)
		atomicx.Bump(&q.stats.txBytes, w.qBytes)
		w.queued, w.qBytes = 0, 0
		return
	}
	w.loseQueued()
}

// lostError reports, once, the queued frames lost since it last did.
func (w *FrameWriter) lostError() error {
	if w.lost == 0 {
		return nil
	}
	n := w.lost
	w.lost = 0
	return fmt.Errorf("%w: %d queued frames were not sent", ErrLinkDown, n)
}

// Discard drops the frame being built and frees the slot it reserved for
// the Handle's other writers. Queued frames stay queued.
func (w *FrameWriter) Discard() {
	if !w.holding {
		w.buf.Reset()
		return
	}
	w.q.mu.Lock()
	w.dropSlot()
	w.q.mu.Unlock()
}

// reserveLocked reserves the next slot of s for w, with the queue's lock held and no
// other FrameWriter owning the ring.
func (w *FrameWriter) reserveLocked(s *session) error {
	q := w.q
	// Not holding a slot: nothing of w points into an orphaned session.
	q.st.release(w)
	if w.queued > 0 && w.sess != s {
		w.loseQueued()
	}
	// attempt checked that s carries the queue.
	slot, err := s.tx[q.id].Reserve()
	if err != nil {
		return q.txFailed(s, err, 0)
	}
	q.st.owner, q.st.ownerSess = w, s
	w.sess, w.holding = s, true
	w.buf.SetSlot(slot)
	return nil
}

// queueLocked commits w's frame, with the queue's lock held. It returns errWaitRoom
// (keeping the slot, and the other writers out) when a frame larger than
// the slot needs more free slots than there are.
func (w *FrameWriter) queueLocked() error {
	q := w.q
	s := w.sess
	if q.st.owner != w || s.down.Load() {
		w.dropSlot()
		return ErrLinkDown
	}
	n := w.buf.Len()
	if n == 0 {
		w.dropSlot()
		return fmt.Errorf("memif: frame writer: %w", ring.ErrEmptyFrame)
	}
	if w.buf.InSlot() {
		if err := s.tx[q.id].Commit(w.buf.Offset(), n); err != nil {
			// Cannot happen: the SlotBuffer keeps the frame inside the
			// slot it was given.
			w.dropSlot()
			return fmt.Errorf("memif: frame writer: %w", err)
		}
	} else if err := s.tx[q.id].Write(w.buf.Bytes()); err != nil {
		// Write started at the slot we reserved (it drops the
		// reservation), so a retry starts there again.
		err = q.txFailed(s, err, n)
		if err != errWaitRoom {
			w.dropSlot()
		}
		return err
	}
	q.st.owner, q.st.ownerSess = nil, nil
	w.holding = false
	w.queued++
	w.qBytes += uint64(n)
	w.buf.Reset()
	return nil
}

// closedUnder reports whether the Handle was closed while w held a slot,
// dropping the frame if so (and letting go of the slot's memory, which
// Close left mapped for w).
func (w *FrameWriter) closedUnder() bool {
	if !w.holding || !w.q.h.closed.Load() {
		return false
	}
	w.q.mu.Lock()
	w.dropSlot()
	w.q.mu.Unlock()
	return true
}

// dropSlot gives up the slot w holds, if it still does, with the queue's
// lock held, and unpins the sessions torn down under w.
func (w *FrameWriter) dropSlot() {
	st := &w.q.st
	if st.owner == w {
		st.ownerSess.tx[w.q.id].Unreserve()
		st.owner, st.ownerSess = nil, nil
	}
	st.release(w)
	w.holding = false
	w.buf.Reset()
}

// loseQueued counts the queued frames as lost, with the queue's lock held: their
// session is gone.
func (w *FrameWriter) loseQueued() {
	w.lost += w.queued
	w.q.stats.txDropped.Add(w.queued)
	w.queued, w.qBytes = 0, 0
}
