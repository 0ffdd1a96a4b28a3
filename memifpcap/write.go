package memifpcap

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/memifpcap/memifpcap/ring"
)

// How a writer waits for room in a full ring (or for a FrameWriter to finish
// the frame it builds in the next slot): nothing tells us when the peer
// consumes (memif never signals consumption), so poll, yielding first, then
// sleeping a little.
const (
	txSpins = 256
	txSleep = 20 * time.Microsecond
)

// txState is what the writers share besides the ring, guarded by
// Handle.txMu.
type txState struct {
	// owner is the FrameWriter building a frame in the slot it reserved,
	// on ownerSess. The slot is the next one the ring carries, so every
	// other writer waits until owner queues or discards that frame.
	owner     *FrameWriter
	ownerSess *session
	// orphans are sessions torn down while a FrameWriter held a slot in
	// them, each pinned for that FrameWriter, which may still be writing
	// into the slot. It unpins on its next reservation or when it drops
	// the frame; Close unpins them all.
	orphans []orphan
}

type orphan struct {
	w *FrameWriter
	s *session
}

// sessionEnded is called by teardown with txMu held. It reports whether a
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

func (st *txState) unmapDeferred() {
	for _, o := range st.orphans {
		o.s.unpin()
	}
	clear(st.orphans)
	st.orphans = st.orphans[:0]
}

// What an attempt returns when it must wait and try again.
var (
	errWaitRoom  = errors.New("memif: transmit ring full")
	errWaitOwner = errors.New("memif: next transmit slot held by a FrameWriter")
)

// WritePacketData sends one frame. A frame larger than one buffer travels
// as a chain of descriptors. When the ring is full, WritePacketData waits
// for the peer to make room, up to WriteTimeout (then ErrTimeout); it also
// waits while a FrameWriter builds a frame in the next slot. While the link
// is down it fails at once with ErrLinkDown; see WaitLinkUp. The frame is
// copied: data may be reused when WritePacketData returns. An empty frame
// is refused (memif cannot describe one to DPDK or VPP).
func (h *Handle) WritePacketData(data []byte) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if len(data) == 0 {
		return h.dropped(fmt.Errorf("memif: write: %w", ring.ErrEmptyFrame))
	}
	return h.transmit(nil, opWrite, data)
}

// txOp is what transmit does.
type txOp uint8

const (
	opWrite   txOp = iota // copy data into a chain and publish it
	opReserve             // reserve the next slot for FrameWriter w
	opQueue               // commit w's frame, without publishing
	opSend                // commit w's frame and publish the queue
)

// transmit runs op with txMu held, again and again while it has to wait
// (ring full, or another FrameWriter in the next slot), up to WriteTimeout.
// txMu is released between attempts, so that a FrameWriter can finish its
// frame and a teardown can proceed. Every failure counts in TxDropped.
func (h *Handle) transmit(w *FrameWriter, op txOp, data []byte) error {
	var dl time.Time
	waited, full := 0, false
	for {
		if h.closed.Load() {
			return h.dropped(ErrClosed)
		}
		h.txMu.Lock()
		err := h.attempt(w, op, data)
		h.txMu.Unlock()
		switch {
		case err == nil:
			return nil
		case err == errWaitRoom:
			if !full {
				full = true
				h.stats.txFull.Add(1)
			}
		case err != errWaitOwner:
			return h.dropped(err)
		}
		if waited == 0 && h.cfg.WriteTimeout > 0 {
			dl = time.Now().Add(h.cfg.WriteTimeout)
		}
		waited++
		if waited < txSpins {
			runtime.Gosched()
			continue
		}
		if !dl.IsZero() && !time.Now().Before(dl) {
			return h.dropped(ErrTimeout)
		}
		time.Sleep(txSleep)
	}
}

// attempt is one try of op, with txMu held.
func (h *Handle) attempt(w *FrameWriter, op txOp, data []byte) error {
	if op == opQueue || op == opSend {
		// The frame belongs to the session w reserved its slot on;
		// queueLocked checks that it is still live.
		if err := w.queueLocked(); err != nil {
			return err
		}
		if op == opSend {
			w.publishLocked()
		}
		return nil
	}
	s := h.sess.Load()
	if s == nil || s.down.Load() {
		return ErrLinkDown
	}
	if o := h.txState.owner; o != nil && o != w {
		return errWaitOwner
	}
	if op == opReserve {
		return w.reserveLocked(s)
	}
	if err := s.tx.Write(data); err != nil {
		return h.txFailed(s, err, len(data))
	}
	if s.tx.Publish() {
		_ = s.txEvent.Signal()
	}
	bump(&h.stats.txPackets, 1)
	bump(&h.stats.txBytes, uint64(len(data)))
	return nil
}

// txFailed sorts an error of the ring's producer: errWaitRoom to wait for
// room, an error for a frame that can never be sent, and the end of the
// session for a peer that broke the ring.
func (h *Handle) txFailed(s *session, err error, size int) error {
	switch {
	case errors.Is(err, ring.ErrRingFull):
		// Frames committed but not yet published (a FrameWriter's queue)
		// hold slots the peer cannot see, so cannot free: publish them
		// before waiting for room.
		if s.tx.Publish() {
			_ = s.txEvent.Signal()
		}
		return errWaitRoom
	case errors.Is(err, ring.ErrFrameTooLarge):
		return fmt.Errorf("memif: write of a %d-byte frame: %w", size, err)
	default:
		// The peer offered a descriptor outside its own memory, or moved
		// its index in a way the protocol does not allow.
		s.fail("Bad descriptor", true)
		return fmt.Errorf("memif: write: %w", err)
	}
}

func (h *Handle) dropped(err error) error {
	h.stats.txDropped.Add(1)
	return err
}
