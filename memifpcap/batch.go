package memifpcap

import (
	"context"
	"errors"
	"runtime/debug"
	"time"

	"github.com/google/gopacket"

	"github.com/memifpcap/memifpcap/internal/atomicx"
	"github.com/memifpcap/memifpcap/ring"
)

// Message is one packet of a batch, in the shape of golang.org/x/net/ipv4's
// Message: ReadBatch fills a slice of them, WriteBatch sends one.
type Message struct {
	// Buffers is the packet, one slice per memif descriptor.
	//
	// ReadBatch sets it to views into the shared memory slots the peer
	// wrote (appended to Buffers[:0], so once its capacity holds the
	// longest chain, reads do not allocate), trimmed to CaptureLength
	// bytes in total. The views stay valid until the next read of any
	// kind, or Close: the slots may go back to the peer then. Do not write to
	// them.
	//
	// WriteBatch sends the concatenation of Buffers as one frame, copied
	// into the ring (Buffers may be reused when WriteBatch returns); a
	// frame longer than one memif buffer travels as a chain.
	Buffers [][]byte
	// N is the frame's full length (ReadBatch; CaptureInfo.Length too) or
	// the bytes sent (WriteBatch).
	N int
	// CaptureInfo is set by ReadBatch: Timestamp, CaptureLength and
	// Length. memif carries no time, so a frame's Timestamp is when the
	// reader found it on the ring: the frames one load of the peer's
	// index revealed (a look; one per batch, unless the reader is behind)
	// share one clock reading, taken when the first of them is read. The
	// last of them gets that reading, and the ones before it are spread
	// evenly back over the time since the queue's previous reading, by
	// descriptor (a frame of three buffers is three steps from the one
	// before it), at most 1 µs a step (after an idle spell they most
	// likely arrived in a burst). So the stamps of a queue increase (strictly, unless frames
	// come faster than one a nanosecond), each lies after the previous
	// reading and at or before the read that took the frame. Frames read
	// alone (ReadPacketData, ZeroCopyReadPacketData, ReadPacketDataTo) are
	// stamped from the same looks, so any mix of reads keeps that order; a
	// reader behind a busy peer reads the clock once per look, one that
	// keeps up once per frame. Config.BatchTimestamps gives every frame of
	// a look the one reading instead. The clock is the wall clock, read at
	// most once a second, advanced by the monotonic clock: one clock read
	// where time.Now makes two, and a step of the wall clock shows in the
	// stamps within a second.
	// AncillaryData is left nil, so that a batch boxes nothing;
	// the queue is in Queue and the metadata word is in Metadata.
	CaptureInfo gopacket.CaptureInfo
	// Metadata is the metadata word of the packet's first descriptor
	// (ReadBatch); see AncillaryMetadata.
	Metadata uint32
	// Queue is the receive queue the packet came from (ReadBatch,
	// PollBatch): RxQueue.ID.
	Queue int
}

// ReadBatch reads up to len(ms) packets into ms and returns how many it
// read. It waits for the first packet as ZeroCopyReadPacketData does (up to
// ReadTimeout, ErrLinkDown once when the link goes down, io.EOF after
// Close), then takes every further packet the ring already holds, up to
// len(ms), without waiting. Nothing is copied: see Message.Buffers for how
// long the views live. The slots of the whole batch go back to the peer
// with one store of the ring index at the next read (see RxQueue); the
// peer's index is loaded once per batch (again only if the batch outruns
// it), the clock read once per load, and the counters updated once.
//
// With a BPF filter set (SetBPF), rejected packets are skipped and count
// in Stats().Filtered, as for the other reads.
func (q *RxQueue) ReadBatch(ms []Message) (int, error) {
	return q.readBatch(ms, true)
}

// ReadBatch reads every receive queue; see RxQueue.ReadBatch. With
// several queues (Config.RxQueues), a read takes from them in turn, round
// robin from the queue after the one that delivered last, so no queue
// starves: each call's batch comes from one queue (Message.Queue), each
// queue's frames come in order, and frames of different queues have no
// order between them. A read waits, when no queue has a frame, as the
// queues' RxMode says (the busiest mode of any queue wins), with
// ReadTimeout bounding the whole read; ErrLinkDown is reported once per
// link drop, not once per queue. Queues the peer did not connect are
// skipped. The slots of the previous read, of whichever queue, go back to
// the peer at the next read. For one goroutine per queue, use RxQueue.
func (h *Handle) ReadBatch(ms []Message) (int, error) {
	if len(h.rxq) == 1 {
		return h.rxq[0].ReadBatch(ms)
	}
	return h.mergedReadBatch(ms, true)
}

// PollBatch polls every receive queue once, in turn as ReadBatch does; see
// RxQueue.PollBatch.
func (h *Handle) PollBatch(ms []Message) (int, error) {
	if len(h.rxq) == 1 {
		return h.rxq[0].PollBatch(ms)
	}
	return h.mergedReadBatch(ms, false)
}

// WriteBatch writes to transmit queue 0; see TxQueue.WriteBatch.
func (h *Handle) WriteBatch(ms []Message) (int, error) { return h.txq[0].WriteBatch(ms) }

// WriteBatchContext writes to transmit queue 0; see
// TxQueue.WriteBatchContext.
func (h *Handle) WriteBatchContext(ctx context.Context, ms []Message) (int, error) {
	return h.txq[0].WriteBatchContext(ctx, ms)
}

// PollBatch is ReadBatch without waiting: it returns 0 and a nil error at
// once when no packet is ready, and ErrLinkDown while the link is down.
// It is for busy-polling receivers (memifperf -rx-mode poll), which trade a
// CPU for the shortest latency; it never asks the peer for an interrupt.
// Like every read, it hands back the slots of the previous batch.
func (q *RxQueue) PollBatch(ms []Message) (int, error) {
	n, err := q.readBatch(ms, false)
	if err == errNoPacketYet {
		return 0, nil
	}
	return n, err
}

func (q *RxQueue) readBatch(ms []Message, wait bool) (n int, err error) {
	if len(ms) == 0 {
		return 0, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.h.guarded() {
		defer q.h.endGuard(debug.SetPanicOnFault(true), &err)
	}
	return q.readBatchLocked(ms, wait)
}

// readBatchLocked is readBatch with the queue's lock held. It completes
// each message as it takes the frame (views, lengths, snap length, queue,
// metadata, timestamp), in one pass: runs of one-descriptor frames come
// from Burst and are completed inline, with no call per frame; chains,
// bad descriptors, the end of what the producer's index covered and the
// filter go through Next and fill.
func (q *RxQueue) readBatchLocked(ms []Message, wait bool) (int, error) {
	segs, n, s, err := q.nextPacket(wait)
	if err != nil {
		return 0, err
	}
	rx := s.rx[q.id]
	st := &q.st
	vm := q.filter.Load()
	same := q.h.cfg.BatchTimestamps
	b := batchFill{queue: q.id, snap: st.snapLen}
	// The first packet's views are in st.segs, which the next take
	// reuses: move them into the message first. nextPacket ran the
	// filter on it already.
	ms[0].Buffers = append(ms[0].Buffers[:0], segs...)
	b.fill(&ms[0], n, st.keep, rx.Metadata(), st.look(rx.Rx, same).stamp(rx.Pending()))
	count := 1
	var filtered uint64
	frames := st.burstFrames(len(ms))
	for count < len(ms) {
		// One-descriptor frames come in runs (Burst); a chain, a bad
		// descriptor or the end of what the producer's index covered
		// as last loaded goes through Next, which sorts them out.
		k := rx.Burst(frames[:len(ms)-count])
		if k == 0 {
			m := &ms[count]
			segs, n, err := rx.Next(m.Buffers[:0])
			if err != nil {
				// ErrNoPacket: the batch ends here. A corrupt index
				// is found again, and acted on, by the next read.
				break
			}
			m.Buffers = segs
			keep := n
			if vm != nil {
				if keep = st.filtered(vm, segs, n); keep == 0 {
					filtered++
					continue
				}
			}
			b.fill(m, n, keep, rx.Metadata(), st.look(rx.Rx, same).stamp(rx.Pending()))
			count++
			continue
		}
		// Burst does not load the producer's index: its frames belong to
		// the run of the frame before them. left counts, for each, the
		// descriptors published after it.
		r := st.look(rx.Rx, same)
		left := rx.Pending() + k
		if vm != nil {
			for i := range frames[:k] {
				left--
				f := &frames[i]
				m := &ms[count]
				m.Buffers = append(m.Buffers[:0], f.Data)
				if keep := st.filtered(vm, m.Buffers, len(f.Data)); keep > 0 {
					b.fill(m, len(f.Data), keep, f.Metadata, r.stamp(left))
					count++
				} else {
					filtered++ // the next frame overwrites the message
				}
			}
			continue
		}
		// fill, inline, for a one-buffer frame the filter keeps whole.
		for i := range frames[:k] {
			left--
			f := &frames[i]
			m := &ms[count+i]
			n := len(f.Data)
			data := f.Data
			if n > b.snap {
				data = data[:b.snap]
				b.truncated++
			}
			m.Buffers = append(m.Buffers[:0], data)
			m.N, m.Metadata, m.Queue = n, f.Metadata, b.queue
			ci := &m.CaptureInfo
			ci.Timestamp = r.stamp(left)
			ci.CaptureLength, ci.Length = len(data), n
			if ci.InterfaceIndex != 0 || ci.AncillaryData != nil {
				ci.InterfaceIndex, ci.AncillaryData = 0, nil
			}
			b.bytes += uint64(n)
		}
		count += k
	}
	if bad := rx.Stats().BadDescriptors; bad != 0 {
		q.stats.badDescs.Store(s.rx[q.id].badBase + bad)
	}
	// Released on the next read, as for ZeroCopyReadPacketData.
	st.held = s
	c := &q.stats
	atomicx.Bump(&c.packets, uint64(count))
	atomicx.Bump(&c.bytes, b.bytes)
	if b.truncated != 0 {
		atomicx.Bump(&c.truncated, b.truncated)
	}
	if filtered != 0 {
		// Their slots are handed back with the batch's.
		atomicx.Bump(&c.filtered, filtered)
	}
	return count, nil
}

// batchFill completes the messages of one batch read and adds up its
// bytes and cut frames.
type batchFill struct {
	queue            int
	snap             int
	bytes, truncated uint64
}

// fill completes m, whose Buffers hold the views of an n-byte frame of
// which the filter keeps keep bytes (n without one): capture length (what
// the filter kept, cut to the snap length, the views trimmed to it),
// Length, N, metadata, queue and timestamp, with InterfaceIndex and
// AncillaryData cleared (written only when set: a reader reuses its
// messages).
func (b *batchFill) fill(m *Message, n, keep int, meta uint32, ts time.Time) {
	capLen := min(keep, b.snap, n)
	if capLen < n {
		trim(m, capLen)
		b.truncated++
	}
	m.N, m.Metadata, m.Queue = n, meta, b.queue
	ci := &m.CaptureInfo
	ci.Timestamp, ci.CaptureLength, ci.Length = ts, capLen, n
	if ci.InterfaceIndex != 0 || ci.AncillaryData != nil {
		ci.InterfaceIndex, ci.AncillaryData = 0, nil
	}
	b.bytes += uint64(n)
}

// burstFrames returns the scratch slice Burst fills, with room for n
// frames; it grows only when a read asks for a larger batch than before.
func (st *rxState) burstFrames(n int) []ring.Frame {
	if cap(st.frames) < n {
		st.frames = make([]ring.Frame, n)
	}
	return st.frames[:n]
}

// trim cuts m.Buffers to their first capLen bytes.
func trim(m *Message, capLen int) {
	left := capLen
	for i, b := range m.Buffers {
		if len(b) >= left {
			m.Buffers[i] = b[:left]
			clear(m.Buffers[i+1:])
			m.Buffers = m.Buffers[:i+1]
			return
		}
		left -= len(b)
	}
}

// WriteBatch sends the frames in ms, each the concatenation of its Buffers,
// and returns how many it sent. The frames are copied into the transmit
// ring in order and published with one store of the ring index, and the
// peer is signalled at most once, if it asked for interrupts.
//
// When the ring is full before the first frame, WriteBatch waits for room
// as WritePacketData does (up to WriteTimeout, then ErrTimeout); once at
// least one frame is written, a full ring ends the batch early with a nil
// error: send the rest, ms[n:], again. It fails at once with ErrLinkDown
// while the link is down. A frame that can never be sent (empty: an error
// wrapping ErrEmptyFrame; too large: ErrFrameTooLarge) ends the
// batch with its index n and the error, and counts in Stats().TxDropped;
// the frames before it are sent.
func (q *TxQueue) WriteBatch(ms []Message) (int, error) {
	return q.WriteBatchContext(context.Background(), ms)
}

// WriteBatchContext is WriteBatch; ctx also ends its wait for room (the
// error is then ctx.Err()), as for WritePacketDataContext.
func (q *TxQueue) WriteBatchContext(ctx context.Context, ms []Message) (int, error) {
	if q.h.closed.Load() {
		return 0, ErrClosed
	}
	if len(ms) == 0 {
		return 0, nil
	}
	wt := q.newTxWait(ctx)
	for {
		if q.h.closed.Load() {
			return 0, q.dropped(ErrClosed)
		}
		n, err := q.writeBatchOnce(ms)
		if n > 0 || !mustWait(err) {
			return n, err
		}
		if err := q.waitTx(&wt, err); err != nil {
			return 0, err
		}
	}
}

// writeBatchOnce takes the queue's lock for one writeBatchLocked.
func (q *TxQueue) writeBatchOnce(ms []Message) (n int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.h.guarded() {
		defer q.h.endGuard(debug.SetPanicOnFault(true), &err)
	}
	return q.writeBatchLocked(ms)
}

// writeBatchLocked writes as many frames of ms as fit, with the queue's lock held, and
// publishes them. With n == 0, errWaitRoom and errWaitOwner mean try again;
// with n > 0, err is why frame n was refused for good (or nil).
func (q *TxQueue) writeBatchLocked(ms []Message) (n int, err error) {
	s := q.h.sess.Load()
	tx, err := q.producer(s)
	if err != nil {
		return 0, q.dropped(err)
	}
	if q.st.owner != nil {
		return 0, errWaitOwner
	}
	var bytes uint64
	for n < len(ms) {
		// A run of one-buffer frames is copied by one call (WriteBurst);
		// the frame a run stops at, and any frame of several buffers,
		// is written alone, which also says why it cannot go.
		frames := q.st.gather(ms[n:])
		k := tx.WriteBurst(frames)
		for i, f := range frames[:k] {
			ms[n+i].N = len(f)
			bytes += uint64(len(f))
		}
		n += k
		if k == len(frames) && k > 0 {
			continue
		}
		m := &ms[n]
		var werr error
		if len(m.Buffers) == 1 {
			werr = tx.Write(m.Buffers[0])
		} else {
			werr = tx.WriteVector(m.Buffers)
		}
		if werr != nil {
			err = q.batchFailed(s, werr, m, n)
			break
		}
		m.N = msgLen(m.Buffers)
		bytes += uint64(m.N)
		n++
	}
	if n > 0 {
		q.publish(s)
		atomicx.Bump(&q.stats.txPackets, uint64(n))
		atomicx.Bump(&q.stats.txBytes, bytes)
		if err == errWaitRoom {
			err = nil
		}
	}
	return n, err
}

// gather collects the frames of the run of one-buffer messages that starts
// ms, at most len(st.run) of them, for ring.Tx.WriteBurst.
func (st *txState) gather(ms []Message) [][]byte {
	k := 0
	for i := range ms[:min(len(ms), len(st.run))] {
		if len(ms[i].Buffers) != 1 {
			break
		}
		st.run[k] = ms[i].Buffers[0]
		k++
	}
	return st.run[:k]
}

// batchFailed sorts the error of frame i of a batch, as txFailed does for
// one frame, and counts a frame refused for good in TxDropped.
func (q *TxQueue) batchFailed(s *session, err error, m *Message, i int) error {
	switch {
	case errors.Is(err, ring.ErrEmptyFrame):
		return q.dropped(&BatchError{Index: i, Err: err})
	}
	// txFailed publishes what a FrameWriter queued before a full ring
	// makes us wait: the peer cannot free slots it cannot see.
	err = q.txFailed(s, err, msgLen(m.Buffers))
	if err == errWaitRoom {
		return err
	}
	return q.dropped(&BatchError{Index: i, Err: err})
}

func msgLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
