package memifpcap

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/atomicx"
	"github.com/memifpcap/memifpcap/ring"
)

// txState is what the writers of a transmit queue share besides the ring,
// guarded by TxQueue.mu.
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
	// run is WriteBatch's scratch: the frames of a run of one-buffer
	// messages, copied into the ring by one call. It is not cleared
	// afterwards (clearing cost 12 % of memifinject's time at 64 bytes),
	// so up to 64 of the caller's frames stay reachable until the next
	// batch overwrites them.
	run [64][]byte
}

type orphan struct {
	w *FrameWriter
	s *session
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
func (q *TxQueue) WritePacketData(data []byte) error {
	return q.WritePacketDataContext(context.Background(), data)
}

// WritePacketDataContext is WritePacketData; ctx also ends its wait for
// room (the error is then ctx.Err(), and the frame counts in TxDropped),
// so that a program can interrupt a write to a peer that stopped reading
// without closing the Handle.
func (q *TxQueue) WritePacketDataContext(ctx context.Context, data []byte) error {
	if q.h.closed.Load() {
		return ErrClosed
	}
	if len(data) == 0 {
		return q.dropped(fmt.Errorf("memif: write: %w", ring.ErrEmptyFrame))
	}
	return q.transmit(ctx, nil, opWrite, data)
}

// WritePacketData writes to transmit queue 0; see TxQueue.WritePacketData.
func (h *Handle) WritePacketData(data []byte) error {
	return h.txq[0].WritePacketData(data)
}

// WritePacketDataContext writes to transmit queue 0; see
// TxQueue.WritePacketDataContext.
func (h *Handle) WritePacketDataContext(ctx context.Context, data []byte) error {
	return h.txq[0].WritePacketDataContext(ctx, data)
}

// producer returns s's producer for this queue: an error wrapping
// ErrLinkDown when s is gone, ErrNoQueue when the peer did not connect the
// queue.
func (q *TxQueue) producer(s *session) (*ring.Tx, error) {
	if s == nil || s.down.Load() {
		return nil, ErrLinkDown
	}
	if q.id >= len(s.tx) {
		return nil, fmt.Errorf("memif: tx queue %d: the peer connected %d: %w", q.id, len(s.tx), ErrNoQueue)
	}
	return s.tx[q.id].Tx, nil
}

// publish publishes what was written to the queue's ring of s and signals
// the peer if it asked for interrupts.
func (q *TxQueue) publish(s *session) {
	if s.tx[q.id].Publish() {
		_ = s.tx[q.id].ev.Signal()
		atomicx.Bump(&q.stats.intrSent, 1)
	}
}

// txOp is what transmit does.
type txOp uint8

const (
	opWrite   txOp = iota // copy data into a chain and publish it
	opReserve             // reserve the next slot for FrameWriter w
	opQueue               // commit w's frame, without publishing
	opSend                // commit w's frame and publish the queue
)

// transmit runs op with the queue's lock held, again and again while it has to wait
// (ring full, or another FrameWriter in the next slot), up to WriteTimeout.
// the queue's lock is released between attempts, so that a FrameWriter can finish its
// frame and a teardown can proceed. Every failure counts in TxDropped.
func (q *TxQueue) transmit(ctx context.Context, w *FrameWriter, op txOp, data []byte) error {
	wt := q.newTxWait(ctx)
	for {
		if q.h.closed.Load() {
			return q.dropped(ErrClosed)
		}
		err := q.attemptOnce(w, op, data)
		if !mustWait(err) {
			if err != nil {
				return q.dropped(err)
			}
			return nil
		}
		if err := q.waitTx(&wt, err); err != nil {
			return err
		}
	}
}

// attemptOnce takes the queue's lock for one attempt.
func (q *TxQueue) attemptOnce(w *FrameWriter, op txOp, data []byte) (err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.h.guarded() {
		defer q.h.endGuard(debug.SetPanicOnFault(true), &err)
	}
	return q.attempt(w, op, data)
}

// attempt is one try of op, with the queue's lock held.
func (q *TxQueue) attempt(w *FrameWriter, op txOp, data []byte) error {
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
	s := q.h.sess.Load()
	tx, err := q.producer(s)
	if err != nil {
		return err
	}
	if o := q.st.owner; o != nil && o != w {
		return errWaitOwner
	}
	if op == opReserve {
		return w.reserveLocked(s)
	}
	if err := tx.Write(data); err != nil {
		return q.txFailed(s, err, len(data))
	}
	q.publish(s)
	atomicx.Bump(&q.stats.txPackets, 1)
	atomicx.Bump(&q.stats.txBytes, uint64(len(data)))
	return nil
}

// txFailed sorts an error of the ring's producer: errWaitRoom to wait for
// room, an error for a frame that can never be sent, and the end of the
// session for a peer that broke the ring.
func (q *TxQueue) txFailed(s *session, err error, size int) error {
	switch {
	case errors.Is(err, ring.ErrRingFull):
		// Frames committed but not yet published (a FrameWriter's queue)
		// hold slots the peer cannot see, so cannot free: publish them
		// before waiting for room.
		q.publish(s)
		return errWaitRoom
	case errors.Is(err, ring.ErrFrameTooLarge):
		return fmt.Errorf("memif: write of a %d-byte frame: %w", size, err)
	default:
		// The peer offered a descriptor outside its own memory, or moved
		// its index in a way the protocol does not allow.
		s.fail(control.ReasonBadDescriptor, true)
		return fmt.Errorf("memif: write: %w", err)
	}
}

func (q *TxQueue) dropped(err error) error {
	q.stats.txDropped.Add(1)
	return err
}
