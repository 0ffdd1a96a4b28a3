package memifpcap

import (
	"context"
	"errors"
	"runtime/debug"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/net/bpf"

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
	// kind, or Close: the slots go back to the peer then. Do not write to
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
	// reader took it off the ring, with the clock read once per batch:
	// the batch's last frame gets that reading, and the frames before it
	// are spread evenly back over the time since the queue's previous
	// read, at most 1 µs apart (after an idle spell a batch most likely
	// arrived in a burst). So the stamps of a queue increase (strictly,
	// unless frames come faster than one a nanosecond), each lies after
	// the previous read and at or before the read that took the frame.
	// A frame read alone (ReadPacketData, ZeroCopyReadPacketData,
	// ReadPacketDataTo) is stamped the same way, its batch being the
	// frames one look at the peer's index revealed: the clock is read
	// with the first of them, so a reader behind a busy peer reads it once
	// per look, and one that keeps up once per frame.
	// Config.BatchTimestamps gives the whole batch the one reading
	// instead. The clock (for every read, not only batches) is the wall
	// clock, read at most once a second, advanced by the monotonic
	// clock: one clock read where time.Now makes two, and a step of the
	// wall clock shows in the stamps within a second.
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
// with one store of the ring index at the next read; the peer's index is
// loaded once per batch (again only if the batch outruns it), the clock
// read once, and the counters updated once.
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

// readBatchLocked is readBatch with the queue's lock held. It takes the
// batch in one pass (Burst's runs, Next for the rest, the filter) that
// records each frame's views, length, metadata and the bytes the filter
// keeps, and completes it in a second (finish): snap length, capture info,
// queue, timestamps and totals, with no call per frame.
func (q *RxQueue) readBatchLocked(ms []Message, wait bool) (int, error) {
	segs, n, s, err := q.nextPacket(wait)
	if err != nil {
		return 0, err
	}
	rx := s.rx[q.id]
	st := &q.st
	vm := q.filter.Load()
	// The first packet's views are in st.segs, which the next take
	// reuses: move them into the message first. nextPacket ran the
	// filter on it already.
	ms[0].Buffers = append(ms[0].Buffers[:0], segs...)
	taken(&ms[0], n, st.keep, rx.Metadata())
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
			if st.admit(vm, m, n, rx.Metadata()) {
				count++
			} else {
				filtered++
			}
			continue
		}
		if vm != nil {
			for i := range frames[:k] {
				f := &frames[i]
				m := &ms[count]
				m.Buffers = append(m.Buffers[:0], f.Data)
				if st.admit(vm, m, len(f.Data), f.Metadata) {
					count++
				} else {
					filtered++
				}
			}
			continue
		}
		for i := range frames[:k] {
			f := &frames[i]
			m := &ms[count+i]
			m.Buffers = append(m.Buffers[:0], f.Data)
			taken(m, len(f.Data), len(f.Data), f.Metadata)
		}
		count += k
	}
	if bad := rx.Stats().BadDescriptors; bad != 0 {
		q.stats.badDescs.Store(s.rx[q.id].badBase + bad)
	}
	// Released on the next read, as for ZeroCopyReadPacketData.
	st.held = s
	bytes, truncated := st.finish(ms[:count], q.id, st.now(), q.h.cfg.BatchTimestamps)
	c := &q.stats
	atomicx.Bump(&c.packets, uint64(count))
	atomicx.Bump(&c.bytes, bytes)
	if truncated != 0 {
		atomicx.Bump(&c.truncated, truncated)
	}
	if filtered != 0 {
		// Their slots are handed back with the batch's.
		atomicx.Bump(&c.filtered, filtered)
	}
	return count, nil
}

// taken records, in the first pass of a batch read, an n-byte frame whose
// views are in m.Buffers, of which the filter keeps keep bytes (n without
// one): finish reads them back from N and CaptureInfo.CaptureLength.
func taken(m *Message, n, keep int, meta uint32) {
	m.N = n
	m.Metadata = meta
	m.CaptureInfo.CaptureLength = keep
}

// admit runs the filter on m, the views of an n-byte frame, and records it
// (taken) if the filter accepts it. It reports whether it did; a refused
// frame's message is overwritten by the next frame.
func (st *rxState) admit(vm *bpf.VM, m *Message, n int, meta uint32) bool {
	keep := n
	if vm != nil {
		if keep = st.filtered(vm, m.Buffers, n); keep == 0 {
			return false
		}
	}
	taken(m, n, keep, meta)
	return true
}

// burstFrames returns the scratch slice Burst fills, with room for n
// frames; it grows only when a read asks for a larger batch than before.
func (st *rxState) burstFrames(n int) []ring.Frame {
	if cap(st.frames) < n {
		st.frames = make([]ring.Frame, n)
	}
	return st.frames[:n]
}

// maxStampSpacing is the most time ReadBatch puts between the timestamps
// of two frames of one batch (see Message.CaptureInfo): after an idle
// spell, a batch's frames most likely arrived in a burst just before it
// was read, not spread over the whole idle time.
const maxStampSpacing = time.Microsecond

// finish completes a batch taken off the ring at now (see readBatchLocked):
// each frame's capture length (what the filter kept, cut to the snap
// length, the views trimmed to it), Length, Queue and timestamp, with
// InterfaceIndex and AncillaryData cleared (written only when set: a
// reader reuses its messages). It returns the batch's bytes and how many
// frames were cut.
//
// Timestamps (see Message.CaptureInfo): one clock reading per batch. The
// last frame gets it, with its monotonic reading; the others are spread
// back from its wall time, computed in seconds and nanoseconds, which
// costs a subtraction per frame where time.Time.Add would cost a division.
func (st *rxState) finish(ms []Message, queue int, now time.Time, same bool) (bytes, truncated uint64) {
	k := len(ms)
	if k == 0 {
		return 0, 0
	}
	step := time.Duration(0)
	if k > 1 && !same {
		step = min(now.Sub(st.stamped)/time.Duration(k), maxStampSpacing)
	}
	sec, nsec := now.Unix(), int64(now.Nanosecond())
	for i := k - 1; i >= 0; i-- {
		m := &ms[i]
		n := m.N
		ci := &m.CaptureInfo
		capLen := min(ci.CaptureLength, st.snapLen, n)
		if capLen < n {
			trim(m, capLen)
			truncated++
		}
		bytes += uint64(n)
		ci.CaptureLength = capLen
		ci.Length = n
		m.Queue = queue
		if ci.InterfaceIndex != 0 || ci.AncillaryData != nil {
			ci.InterfaceIndex, ci.AncillaryData = 0, nil
		}
		switch {
		case i == k-1 || step <= 0:
			ci.Timestamp = now
		default:
			if nsec -= int64(step); nsec < 0 {
				nsec += int64(time.Second)
				sec--
			}
			ci.Timestamp = time.Unix(sec, nsec)
		}
	}
	st.stamped = now
	st.run.rx = nil // single reads after this batch are stamped after it
	return bytes, truncated
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
		for i := range ms[n : n+k] {
			m := &ms[n+i]
			m.N = len(m.Buffers[0])
			bytes += uint64(m.N)
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
