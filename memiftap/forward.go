package memiftap

import (
	"context"
	"errors"
	"io"
	"runtime/debug"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/viewguard"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// batchSize is how many frames a forwarder takes off a ring at once: the
// slots of a batch go back to the peer together, at the next read, once
// every frame of it is in the other link's ring.
const batchSize = 64

// chainRoom is how many descriptors of a chain each message holds before
// its Buffers grow (a 9000-byte frame in 2048-byte buffers takes 5).
const chainRoom = 8

// forwarder moves the frames of one receive queue of a link to the
// transmit queue with the same index on the other link.
type forwarder struct {
	t     *Tap
	src   *memifpcap.RxQueue
	dst   *memifpcap.TxQueue
	srcH  *memifpcap.Handle
	from  Side
	queue int
	ms    []memifpcap.Message
	// arena holds the frames of a batch copied out of a peer's memory
	// that the peer could shrink under us (see copyOut).
	arena  []byte
	filter *filterState
	d      *dirCounters
	// views guards the batches read from src: the cycle ends that link
	// only once no forwarder uses one (see package viewguard).
	views *viewguard.Guard
}

// forwarders makes one forwarder per queue and direction: upstream's
// receive queue i to downstream's transmit queue i, and back.
func (t *Tap) forwarders(hs [2]*memifpcap.Handle, guards *[2]viewguard.Guard) []*forwarder {
	var fws []*forwarder
	for _, from := range []Side{Upstream, Downstream} {
		src, dst := hs[from], hs[from.other()]
		rx, _ := src.ConnectedQueues()
		for q := range rx {
			f := &forwarder{t: t, src: src.RxQueue(q), dst: dst.TxQueue(q), srcH: src, from: from, queue: q,
				ms: make([]memifpcap.Message, batchSize), d: &t.dirs[from], views: &guards[from]}
			views := make([][]byte, batchSize*chainRoom)
			for i := range f.ms {
				f.ms[i].Buffers = views[i*chainRoom : i*chainRoom : (i+1)*chainRoom]
			}
			if t.rec != nil {
				f.filter = t.rec.newFilter()
			}
			fws = append(fws, f)
		}
	}
	return fws
}

// run forwards until its source link goes down (reported on events),
// its destination link does (reported too), or the Handles close.
func (f *forwarder) run(ctx context.Context, events chan<- downEvent) {
	for {
		n, err := f.src.ReadBatch(f.ms)
		switch {
		case err == io.EOF:
			return
		case errors.Is(err, memifpcap.ErrTimeout):
			continue
		case err != nil:
			events <- downEvent{side: f.from, err: err}
			return
		}
		if !f.views.Enter() {
			// The link is ending: these slots are the peer's again.
			f.d.lost.Add(uint64(n))
			return
		}
		ev, ok := f.pass(ctx, f.ms[:n])
		f.views.Leave()
		if !ok {
			events <- ev
			return
		}
	}
}

// pass forwards and records one batch read from src, whose views f holds
// (f.views); ok is false when a link went down (ev says which).
func (f *forwarder) pass(ctx context.Context, ms []memifpcap.Message) (ev downEvent, ok bool) {
	if f.t.testHoldBatch != nil {
		f.t.testHoldBatch(f.from, ms)
	}
	if !f.srcH.SealedMemory() && !f.copyOut(ms) {
		f.srcH.Disconnect(control.ReasonMemoryFault)
		f.d.lost.Add(uint64(len(ms)))
		return downEvent{side: f.from, err: errors.New("memory fault")}, false
	}
	k, err := f.write(ctx, ms)
	if f.t.rec != nil && k > 0 {
		// What was handed on, and only that, is recorded.
		f.t.rec.record(f.filter, int(f.from), f.queue, ms[:k])
	}
	if err != nil {
		return downEvent{side: f.from.other(), err: err}, false
	}
	return downEvent{}, true
}

// write hands every frame of ms on to the destination queue, waiting for
// room as long as it takes (the destination peer's pace is the link's).
// It returns an error when the destination link went down (or the tap
// stops): the frames not handed on are counted lost; and how many of ms
// come before the first one not handed on.
func (f *forwarder) write(ctx context.Context, ms []memifpcap.Message) (int, error) {
	off := 0
	for off < len(ms) {
		k, err := f.dst.WriteBatchContext(ctx, ms[off:])
		if k > 0 {
			var b uint64
			for i := range ms[off : off+k] {
				b += uint64(ms[off+i].N)
			}
			f.d.frames.Add(uint64(k))
			f.d.bytes.Add(b)
			off += k
		}
		if err == nil {
			continue
		}
		if errors.Is(err, memifpcap.ErrFrameTooLarge) || errors.Is(err, memifpcap.ErrEmptyFrame) {
			// This frame can never cross; the rest can.
			f.d.dropped.Add(1)
			off++
			continue
		}
		f.d.lost.Add(uint64(len(ms) - off))
		return off, err
	}
	return off, nil
}

// copyOut copies a batch out of the source peer's memory into the
// forwarder's arena, when that peer could shrink its memory under us (a
// zero-copy VPP or DPDK client of a tap server): the copy runs with memory
// faults turned into panics, so that such a peer costs its link, not the
// process, and the destination link never sees the fault as its own. It
// reports false on a fault.
func (f *forwarder) copyOut(ms []memifpcap.Message) (ok bool) {
	total := 0
	for i := range ms {
		total += ms[i].N
	}
	if cap(f.arena) < total {
		f.arena = make([]byte, total)
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			ok = false
		}
	}()
	a := f.arena[:total]
	for i := range ms {
		m := &ms[i]
		n := gather(a[:m.N], m.Buffers)
		m.Buffers = append(m.Buffers[:0], a[:n:n])
		a = a[n:]
	}
	return true
}
