package memifpcap

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/net/bpf"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/atomicx"
	"github.com/memifpcap/memifpcap/internal/smallcopy"
	"github.com/memifpcap/memifpcap/ring"
)

// rxState is a receive queue's reader state, guarded by RxQueue.mu.
type rxState struct {
	segs    [][]byte // reused per read: the segments of the current packet
	scratch []byte   // gather buffer for chained packets, SnapLen bytes
	snapLen int
	// clock is the wall clock's last reading (see now).
	clock time.Time
	// stamped is the last clock reading taken for stamps, and run the
	// look whose frames are being read (see stamp.go).
	stamped time.Time
	run     stampRun
	// ancChunk is the chunk freshAncillary carves the copying path's
	// AncillaryData slices from, ancUsed how many of its entries are
	// handed out; dataChunk and dataUsed the same for fresh's copied
	// frames. Indices rather than a chunk re-sliced per frame: storing a
	// slice into the Handle (heap memory) costs a write barrier while the
	// collector runs, and a steady copying reader keeps it running.
	ancChunk  []any
	ancUsed   int
	dataChunk []byte
	dataUsed  int
	// frames is the scratch slice ReadBatch's ring.Burst fills.
	frames []ring.Frame

	// held is the session whose slot backs the slice the last
	// ZeroCopyReadPacketData returned; it is released on the next read.
	held *session
	// last is the session the reader last read from. When it goes down
	// the next read reports ErrLinkDown once.
	last       *session
	downReason string
	// keep is how many bytes of the current packet the BPF filter
	// accepted (all of them without one).
	keep int
	// deferred are torn-down sessions whose regions a zero-copy slice
	// still points into; they are unpinned on the next read or Close.
	deferred []*session

	// ancillary is CaptureInfo.AncillaryData of the zero-copy reads, reused
	// (see AncillaryQueue). queue and meta are its boxed values, kept so
	// that a read boxes nothing unless the metadata word changed.
	ancillary []any
	queue     any
	meta      any
	metaWord  uint32
}

func (st *rxState) init(c *config, queue int) {
	st.segs = make([][]byte, 0, 8)
	st.snapLen = c.SnapLen
	st.queue = AncillaryQueue{Queue: queue}
	st.meta = AncillaryMetadata{Metadata: 0}
	st.ancillary = make([]any, 2)
}

// metadata returns the boxed AncillaryMetadata for word w, boxing only
// when w differs from the last one.
func (st *rxState) metadata(w uint32) any {
	if w != st.metaWord {
		st.meta = AncillaryMetadata{Metadata: w}
		st.metaWord = w
	}
	return st.meta
}

// reusedAncillary fills the reader's own AncillaryData slice for a frame
// whose first descriptor carried metadata word w.
func (st *rxState) reusedAncillary(w uint32) []any {
	st.ancillary[0] = st.queue
	st.ancillary[1] = st.metadata(w)
	return st.ancillary
}

// ReadPacketData reads every receive queue (see Handle.ReadBatch for how
// they are merged); see RxQueue.ReadPacketData. AncillaryQueue tells which
// queue the frame came from.
func (h *Handle) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if len(h.rxq) == 1 {
		return h.rxq[0].ReadPacketData()
	}
	return h.mergedReadPacketData()
}

// ReadPacketDataTo reads every receive queue; see RxQueue.ReadPacketDataTo
// and Handle.ReadBatch.
func (h *Handle) ReadPacketDataTo(b []byte) (gopacket.CaptureInfo, error) {
	if len(h.rxq) == 1 {
		return h.rxq[0].ReadPacketDataTo(b)
	}
	return h.mergedReadPacketDataTo(b)
}

// ZeroCopyReadPacketData reads every receive queue; see
// RxQueue.ZeroCopyReadPacketData and Handle.ReadBatch.
func (h *Handle) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	if len(h.rxq) == 1 {
		return h.rxq[0].ZeroCopyReadPacketData()
	}
	return h.mergedZeroCopyReadPacketData()
}

// ReadPacketData returns the next frame in memory the caller owns. It waits
// as described for ZeroCopyReadPacketData. CaptureInfo.AncillaryData is a
// new slice too: AncillaryQueue, then AncillaryMetadata. Frames of up to
// 4 KiB are cut from shared 32 KiB blocks (capacity capped, so appending
// to one never touches another): a frame kept keeps its block alive.
func (q *RxQueue) ReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.h.guarded() {
		defer q.h.endGuard(debug.SetPanicOnFault(true), &err)
	}
	return q.readCopy(true)
}

// readCopy is ReadPacketData with the queue lock held; see nextPacket for wait.
func (q *RxQueue) readCopy(wait bool) ([]byte, gopacket.CaptureInfo, error) {
	segs, n, s, err := q.nextPacket(wait)
	if err != nil {
		return nil, gopacket.CaptureInfo{}, err
	}
	st := &q.st
	data := st.fresh(min(n, st.snapLen, st.keep))
	// A small one-buffer frame takes four 16-byte moves and no call
	// (memifperf -read copy, 64 B: medians 4.46 -> 4.58 Mpps, 6 of 8).
	if len(segs) == 1 && smallcopy.Fits(len(data)) {
		smallcopy.Copy(data, segs[0][:len(data)])
	} else {
		gather(data, segs)
	}
	meta := s.rx[q.id].Metadata()
	s.rx[q.id].ReleaseSome()
	ci := q.captured(len(data), n, s.rx[q.id].Rx)
	ci.AncillaryData = st.freshAncillary(meta)
	return data, ci, nil
}

// dataChunk is the size of the blocks the copying path carves frames of
// up to dataChunk/8 bytes from, and dataChunk/8 that bound.
const dataChunk = 32 << 10

// fresh returns n bytes of memory of the caller's own for a copied frame.
// Small frames are carved, their capacity capped, from a chunk allocated
// once per dataChunk bytes, so that ReadPacketData does not pay an
// allocation (and its share of the garbage collector) per 64-byte frame;
// a frame held keeps its chunk, at most 32 KiB, alive.
func (st *rxState) fresh(n int) []byte {
	if n > dataChunk/8 {
		return make([]byte, n)
	}
	if len(st.dataChunk)-st.dataUsed < n {
		st.dataChunk, st.dataUsed = make([]byte, dataChunk), 0
	}
	i := st.dataUsed
	st.dataUsed += n
	return st.dataChunk[i : i+n : i+n]
}

// ancillaryChunk is how many frames' AncillaryData slices one allocation
// serves on the copying path.
const ancillaryChunk = 64

// freshAncillary returns an AncillaryData slice of the frame's own, as the
// copying path promises: the caller may keep and change it. The slices
// are carved, two entries each with their capacity capped, from a chunk
// allocated once per ancillaryChunk frames, so a copying read costs one
// allocation (its data) rather than two. The chunk is filled when it is
// made, with the queue and a zero metadata word: a frame whose metadata
// is 0 (every implementation's) writes no pointer.
func (st *rxState) freshAncillary(meta uint32) []any {
	if st.ancUsed == len(st.ancChunk) {
		st.ancChunk, st.ancUsed = make([]any, 2*ancillaryChunk), 0
		for i := 0; i < len(st.ancChunk); i += 2 {
			st.ancChunk[i], st.ancChunk[i+1] = st.queue, noMetadata
		}
	}
	i := st.ancUsed
	st.ancUsed += 2
	a := st.ancChunk[i : i+2 : i+2]
	if meta != 0 {
		a[1] = st.metadata(meta)
	}
	return a
}

// noMetadata is AncillaryMetadata for a zero word, boxed once.
var noMetadata any = AncillaryMetadata{}

// ReadPacketDataTo copies the next frame into b and returns its
// CaptureInfo; CaptureLength is how many bytes were copied, at most
// len(b) and SnapLen. It does not allocate: CaptureInfo.AncillaryData is
// the Handle's own slice, as for ZeroCopyReadPacketData, overwritten by
// the next read.
func (q *RxQueue) ReadPacketDataTo(b []byte) (ci gopacket.CaptureInfo, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.h.guarded() {
		defer q.h.endGuard(debug.SetPanicOnFault(true), &err)
	}
	return q.readTo(b, true)
}

// readTo is ReadPacketDataTo with the queue lock held.
func (q *RxQueue) readTo(b []byte, wait bool) (gopacket.CaptureInfo, error) {
	segs, n, s, err := q.nextPacket(wait)
	if err != nil {
		return gopacket.CaptureInfo{}, err
	}
	st := &q.st
	c := gather(b[:min(len(b), n, st.snapLen, st.keep)], segs)
	meta := s.rx[q.id].Metadata()
	s.rx[q.id].ReleaseSome()
	ci := q.captured(c, n, s.rx[q.id].Rx)
	ci.AncillaryData = st.reusedAncillary(meta)
	return ci, nil
}

// ZeroCopyReadPacketData returns the next frame without copying it: the
// slice points into the shared memory slot the peer wrote, and the slot is
// handed back to the peer no earlier than the next read (see RxQueue). The
// slice is valid until the next call to any read method or Close; do not
// write to it. A frame that spans several descriptors (a chain) is
// gathered into a buffer the Handle owns, without allocating.
//
// CaptureInfo.AncillaryData holds AncillaryQueue, then AncillaryMetadata.
// Like the data, the slice belongs to the Handle and is overwritten by the
// next read (pcapgo's readers do the same); copy it to keep it.
//
// A read waits for a frame: without a ReadTimeout until one arrives, the
// link goes down (ErrLinkDown, once) or the Handle is closed (io.EOF, and
// every read after that).
func (q *RxQueue) ZeroCopyReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.h.guarded() {
		defer q.h.endGuard(debug.SetPanicOnFault(true), &err)
	}
	return q.readZeroCopy(true)
}

// readZeroCopy is ZeroCopyReadPacketData with the queue lock held.
func (q *RxQueue) readZeroCopy(wait bool) ([]byte, gopacket.CaptureInfo, error) {
	segs, n, s, err := q.nextPacket(wait)
	if err != nil {
		return nil, gopacket.CaptureInfo{}, err
	}
	st := &q.st
	capLen := min(n, st.snapLen, st.keep)
	var data []byte
	if len(segs) == 1 {
		data = segs[0][:capLen]
	} else {
		if st.scratch == nil {
			st.scratch = make([]byte, st.snapLen)
		}
		data = st.scratch[:gather(st.scratch[:capLen], segs)]
	}
	st.held = s
	ci := q.captured(len(data), n, s.rx[q.id].Rx)
	ci.AncillaryData = st.reusedAncillary(s.rx[q.id].Metadata())
	return data, ci, nil
}

// captured counts a delivered frame, just taken from rx, and makes its
// CaptureInfo.
func (q *RxQueue) captured(capLen, length int, rx *ring.Rx) gopacket.CaptureInfo {
	c := &q.stats
	atomicx.Bump(&c.packets, 1)
	atomicx.Bump(&c.bytes, uint64(length))
	if capLen < length {
		atomicx.Bump(&c.truncated, 1)
	}
	ts := q.st.look(rx, q.h.cfg.BatchTimestamps).stamp(rx.Pending())
	return gopacket.CaptureInfo{Timestamp: ts, CaptureLength: capLen, Length: length}
}

// gather copies segments into dst until it is full and returns the count.
func gather(dst []byte, segs [][]byte) int {
	n := 0
	for _, s := range segs {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], s)
	}
	return n
}

// next waits for the next whole packet. It returns its segments (views into
// shared memory, valid until the slot is released), its length and the
// session it came from. Called with the queue lock held; it drops the lock only while
// the link is down.
func (q *RxQueue) next() ([][]byte, int, *session, error) {
	return q.nextPacket(true)
}

// errNoPacketYet is what nextPacket(false) returns when no packet is
// ready: the caller polls again.
var errNoPacketYet = errors.New("memif: no packet ready")

// nextPacket is next; with wait false it returns errNoPacketYet at once
// instead of polling, sleeping or waiting for the link (then ErrLinkDown).
// Taking a packet is here; how to wait when there is none is rxWait's.
func (q *RxQueue) nextPacket(wait bool) ([][]byte, int, *session, error) {
	w := rxWait{q: q}
	for {
		s, err := q.live(wait, &w)
		if err != nil {
			return nil, 0, nil, err
		}
		if s == nil {
			continue // the link changed: look again
		}
		segs, n, err := q.take(s)
		switch {
		case err == nil:
			w.got(s)
			return segs, n, s, nil
		case err == errFiltered:
			w.got(s)
			w.spins = 0
			continue
		case !errors.Is(err, ring.ErrNoPacket):
			// The peer's index is impossible: the ring cannot be trusted.
			s.fail(fmt.Sprintf("%s: %v", control.ReasonCorruptRing, err), true)
			continue
		}
		// Nothing complete to read, and nothing handed out is held (this
		// is the first packet of its call; live released it): give back
		// the slots Next consumed while skipping bad descriptors. A peer
		// whose bad chain filled the ring needs them to publish anything
		// more, whether we wait or poll.
		s.rx[q.id].Release()
		if !wait {
			return nil, 0, nil, errNoPacketYet
		}
		if err := w.pause(s); err != nil {
			return nil, 0, nil, err
		}
	}
}

// live returns the session to read from, the link being up and carrying
// this queue, after handing back what the last read held. On the way it
// lets go of torn-down memory, reports Close (io.EOF) and a link drop
// (once), and, when wait is set, waits for the link with the queue lock
// released (then it returns a nil session: look again).
func (q *RxQueue) live(wait bool, w *rxWait) (*session, error) {
	st := &q.st
	if len(st.deferred) > 0 {
		st.unmapDeferred()
	}
	if q.h.closed.Load() {
		return nil, io.EOF
	}
	if st.downReason != "" {
		err := &linkDownError{reason: st.downReason}
		st.downReason = ""
		return nil, err
	}
	s := q.h.sess.Load()
	switch {
	case s == nil || s.down.Load():
		if !wait {
			return nil, ErrLinkDown
		}
		return nil, q.waitLink(w.deadline())
	case q.id >= len(s.rx):
		// Up, but our client did not connect this queue: nothing will
		// arrive on it on this link.
		if !wait {
			return nil, errNoPacketYet
		}
		st.last = s
		return nil, q.waitState(w.deadline())
	}
	if st.held != nil {
		if st.held == s {
			s.rx[q.id].ReleaseSome()
		}
		st.held = nil
	}
	st.last = s
	return s, nil
}

// waitState waits, with the queue lock released, for the next link state
// change, the Handle to close or the deadline, unless the link is down or
// carries this queue already.
func (q *RxQueue) waitState(dl time.Time) error {
	return q.waitFor(dl, func(s *session) bool { return s == nil || s.down.Load() || q.id < len(s.rx) })
}

// waitLink waits, with the queue lock released, for the link to come up,
// the Handle to close or the deadline.
func (q *RxQueue) waitLink(dl time.Time) error {
	return q.waitFor(dl, func(s *session) bool { return s != nil && !s.down.Load() })
}

// waitFor returns at once if ready holds for the current session, else
// waits, with the queue lock released, for the next link state change, the
// Handle to close or the deadline (ErrTimeout).
func (q *RxQueue) waitFor(dl time.Time, ready func(*session) bool) error {
	ch := q.h.stateChan()
	if ready(q.h.sess.Load()) {
		return nil
	}
	var timeout <-chan time.Time
	if !dl.IsZero() {
		left := time.Until(dl)
		if left <= 0 {
			return ErrTimeout
		}
		t := time.NewTimer(left)
		defer t.Stop()
		timeout = t.C
	}
	q.mu.Unlock()
	defer q.mu.Lock()
	select {
	case <-ch:
	case <-q.h.done:
	case <-timeout:
		return ErrTimeout
	}
	return nil
}

// errFiltered says take released a packet the BPF filter rejected.
var errFiltered = errors.New("filtered")

// take reads the next packet from s's ring and runs the filter on it.
func (q *RxQueue) take(s *session) ([][]byte, int, error) {
	st := &q.st
	segs, n, err := s.rx[q.id].Next(st.segs[:0])
	if bad := s.rx[q.id].Stats().BadDescriptors; bad != 0 {
		q.stats.badDescs.Store(s.rx[q.id].badBase + bad)
	}
	if err != nil {
		return nil, 0, err
	}
	st.segs = segs[:0]
	if !st.accept(q.filter.Load(), segs, n) {
		s.rx[q.id].ReleaseSome()
		atomicx.Bump(&q.stats.filtered, 1)
		return nil, 0, errFiltered
	}
	return segs, n, nil
}

// accept runs the BPF filter, if any, and sets keep.
func (st *rxState) accept(vm *bpf.VM, segs [][]byte, n int) bool {
	st.keep = n
	if vm == nil {
		return true
	}
	st.keep = st.filtered(vm, segs, n)
	return st.keep > 0
}
