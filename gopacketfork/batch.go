package gopacketfork

import (
	"context"
	"sync"

	"github.com/gopacket/gopacket"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// Message is memifpcap.Message with the fork's CaptureInfo: one packet of
// a batch. See memifpcap.Message for what each field holds after a read
// and for a write, and for how long the views in Buffers live (until the
// next read of any kind, or Close).
type Message struct {
	// Buffers is the packet, one slice per memif descriptor; after a read,
	// views into the shared memory, appended to Buffers[:0], so that reads
	// do not allocate once its capacity holds the longest chain.
	Buffers [][]byte
	// N is the frame's full length (a read) or the bytes sent (a write).
	N int
	// CaptureInfo is set by a read: Timestamp, CaptureLength, Length;
	// AncillaryData is nil (the queue is Queue, the metadata word Metadata).
	CaptureInfo gopacket.CaptureInfo
	// Metadata is the metadata word of the packet's first descriptor.
	Metadata uint32
	// Queue is the receive queue the packet came from (RxQueue.ID).
	Queue int
}

// Data returns the packet read as one slice, for the fork's pcapgo writers
// or gopacket.NewPacket: Buffers[0] itself when the frame is one
// descriptor (no copy), else the buffers gathered into dst (appended to
// dst[:0], so a reused dst stops allocating once it holds the longest
// frame).
func (m *Message) Data(dst []byte) []byte {
	if len(m.Buffers) == 1 {
		return m.Buffers[0]
	}
	dst = dst[:0]
	for _, b := range m.Buffers {
		dst = append(dst, b...)
	}
	return dst
}

// batcher converts batches between Message and memifpcap.Message through
// a slice of memifpcap.Message it keeps, so that a batch read allocates
// nothing once the slice has grown to the batch size. Its lock serializes
// the batch calls of one Handle or RxQueue, as memifpcap serializes the
// readers of a queue.
type batcher struct {
	mu sync.Mutex
	ms []memifpcap.Message
}

// do runs f over len(ms) memifpcap messages carrying the Buffers of ms,
// then copies the first n results back into ms.
func (b *batcher) do(ms []Message, f func([]memifpcap.Message) (int, error), write bool) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cap(b.ms) < len(ms) {
		b.ms = make([]memifpcap.Message, len(ms))
	}
	in := b.ms[:len(ms)]
	for i := range ms {
		if write {
			in[i].Buffers = ms[i].Buffers
		} else {
			in[i].Buffers = ms[i].Buffers[:0]
		}
	}
	n, err := f(in)
	for i := range in {
		m := &in[i]
		if i < n {
			if write {
				ms[i].N = m.N
			} else {
				ms[i] = Message{
					Buffers:     m.Buffers,
					N:           m.N,
					CaptureInfo: gopacket.CaptureInfo(m.CaptureInfo),
					Metadata:    m.Metadata,
					Queue:       m.Queue,
				}
			}
		}
		*m = memifpcap.Message{} // keep no views of the caller's buffers
	}
	return n, err
}

// ReadBatch is memifpcap.Handle.ReadBatch (every receive queue, merged)
// with Message; it does not allocate either, once the batch size and the
// Buffers' capacities have been seen.
func (h *Handle) ReadBatch(ms []Message) (int, error) {
	return h.batch.do(ms, h.Handle.ReadBatch, false)
}

// PollBatch is memifpcap.Handle.PollBatch with Message.
func (h *Handle) PollBatch(ms []Message) (int, error) {
	return h.batch.do(ms, h.Handle.PollBatch, false)
}

// WriteBatch is memifpcap.Handle.WriteBatch (transmit queue 0) with
// Message: it sends the concatenation of each message's Buffers as one
// frame and sets N. Per-queue batch writes are memifpcap's:
// h.TxQueue(i).WriteBatch takes memifpcap.Message, which has no fork type
// in it to convert.
func (h *Handle) WriteBatch(ms []Message) (int, error) {
	return h.batch.do(ms, h.Handle.WriteBatch, true)
}

// WriteBatchContext is memifpcap.Handle.WriteBatchContext with Message.
func (h *Handle) WriteBatchContext(ctx context.Context, ms []Message) (int, error) {
	return h.batch.do(ms, func(in []memifpcap.Message) (int, error) {
		return h.Handle.WriteBatchContext(ctx, in)
	}, true)
}

// ReadBatch is memifpcap.RxQueue.ReadBatch with Message; it does not
// allocate either, once the batch size and the Buffers' capacities have
// been seen.
func (q *RxQueue) ReadBatch(ms []Message) (int, error) {
	return q.batch.do(ms, q.RxQueue.ReadBatch, false)
}

// PollBatch is memifpcap.RxQueue.PollBatch with Message.
func (q *RxQueue) PollBatch(ms []Message) (int, error) {
	return q.batch.do(ms, q.RxQueue.PollBatch, false)
}
