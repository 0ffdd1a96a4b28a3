package ring

import (
	"fmt"
	"math"

	"github.com/memifpcap/memifpcap/internal/smallcopy"
)

// TxStats counts what a Tx wrote. The fields are plain integers: a Tx belongs
// to one goroutine, which reads them through Stats.
type TxStats struct {
	Packets        uint64 // frames written
	Bytes          uint64 // bytes of those frames
	Descriptors    uint64 // descriptors (slots) they used
	BadDescriptors uint64 // server: client-offered descriptors refused (each Write that returned a *DescriptorError)
}

// txSeg is one validated buffer a server is about to fill.
type txSeg struct {
	region   uint16
	offset   uint32
	capacity uint32
}

// Tx is the producer of one ring: the client on a C2S ring, the server on an
// S2C ring. It copies frames into shared memory (Write) and makes them
// visible to the peer in batches (Publish). A Tx is not safe for concurrent
// use.
type Tx struct {
	side

	// cursor is the index of the next slot to write, ahead of published by
	// what Write did since the last Publish. published is our index as last
	// stored in shared memory (head for a client, tail for a server).
	cursor, published uint16
	// peer is the peer's index (tail for a client, head for a server) as
	// last loaded. It is reloaded only when it says the ring is too full, so
	// a burst of writes costs one atomic load.
	peer uint16
	// polled: the peer's MASK_INT was set when Publish last looked (it
	// polls), so the next Publish may store our index with a release
	// store (see Publish).
	polled bool

	segs []txSeg // server: the buffers of the frame being written, validated once

	// reserved counts the slots Reserve handed out at cursor, cursor+1, ...
	// that Commit has not filled yet. They are ours (within free) but
	// nothing of them is visible to the peer.
	reserved uint16
	// rsv holds, for a server, the client-offered buffer of each reserved
	// slot as validated by Reserve, indexed by slot (idx & mask): Commit
	// uses exactly what was checked even if the client rewrote the
	// descriptor since.
	rsv []txSeg

	stats TxStats
}

// NewTx returns the producer of r. Call Reset once the ring is live (at
// CONNECTED for a client, at CONNECT for a server) before writing.
func NewTx(r *Ring, cfg Config) (*Tx, error) {
	sd, err := newSide(r, cfg)
	if err != nil {
		return nil, fmt.Errorf("memif tx: %w", err)
	}
	t := &Tx{side: sd}
	if !t.client {
		t.segs = make([]txSeg, r.Size())
		t.rsv = make([]txSeg, r.Size())
	}
	t.Reset()
	return t, nil
}

// Reset resynchronises the private cursor with the ring, as DPDK and
// libmemif do at connect: a client continues from head, a server from tail.
// The peer's index is loaded (and checked) by the next Write or Free.
// Outstanding reservations are dropped.
func (t *Tx) Reset() {
	t.reserved = 0
	t.polled = false
	if t.client {
		t.cursor = t.ring.Head()
		t.published = t.cursor
		t.peer = t.cursor - t.n // no credit until tail is loaded
	} else {
		t.cursor = t.ring.Tail()
		t.published = t.cursor
		t.peer = t.cursor // no offered buffers until head is loaded
	}
}

// free is the number of slots Write may still fill according to the cached
// peer index: on C2S the client may run N slots ahead of tail; on S2C the
// server may fill what the client offered up to head.
func (t *Tx) free() uint16 {
	if t.client {
		return t.peer + t.n - t.cursor
	}
	return t.peer - t.cursor
}

// loadPeer loads the peer's index once and checks that it moved only as the
// protocol allows.
func (t *Tx) loadPeer() error {
	if t.client {
		// The server's tail may only advance, up to the head we
		// published. Pairs with the server's release store of tail
		// (DPDK eth_memif_rx, VPP memif_device_input_inline).
		tail := t.ring.Tail()
		if err := checkPeer("tail", t.published-t.n, t.peer, tail, t.n); err != nil {
			return err
		}
		t.peer = tail
		return nil
	}
	// The client's head may only advance, at most N beyond our tail.
	// Pairs with the client's release store of head after refilling
	// (DPDK eth_memif_rx label refill, libmemif memif_refill_queue).
	head := t.ring.Head()
	if err := checkPeer("head", t.published, t.peer, head, t.n); err != nil {
		return err
	}
	t.peer = head
	return nil
}

// InFlight loads the peer's index and returns how many published slots the
// peer has not handed back yet: on C2S those the server has not consumed
// (head - tail), on S2C those the client has not read and refilled
// (N - (head - tail)). It is 0 once the peer has taken every frame, and -1
// if the peer corrupted the ring.
func (t *Tx) InFlight() int {
	if t.loadPeer() != nil {
		return -1
	}
	if t.client {
		return int(t.published - t.peer)
	}
	return int(t.n - (t.peer - t.published))
}

// FramesInFlight is InFlight counted in frames: a chain of descriptors is
// one frame (its last descriptor lacks DescFlagNext). The flags are read
// from shared memory, where the peer may have changed them since we wrote
// them; the count is then off, but never above InFlight. -1 as InFlight.
func (t *Tx) FramesInFlight() int {
	n := t.InFlight()
	if n <= 0 {
		return n
	}
	start := t.published - uint16(n)
	frames := 0
	for i := range uint16(n) {
		if t.ring.Desc(start+i).Flags&DescFlagNext == 0 {
			frames++
		}
	}
	return frames
}

// Write copies frame into a whole chain of descriptors at the private cursor:
// DescFlagNext on every descriptor but the last, and flags written
// explicitly on each one, because DPDK 22.11 leaves a stale NEXT in a reused
// slot (drivers/net/memif/rte_eth_memif.c, eth_memif_tx: the first
// descriptor's flags are never cleared; fixed upstream by f7a52200d4) and a
// peer reading our ring must never see one from us. Nothing is visible to the peer before Publish.
//
// Errors: ErrEmptyFrame; ErrRingFull when the free slots cannot hold the
// whole chain (nothing is written: memif producers publish only whole
// chains); ErrFrameTooLarge when the frame needs more descriptors than the
// ring has slots; *CorruptError when the peer moved its index illegally;
// and, for a server, *DescriptorError when a buffer the client offered lies
// outside its regions (checked before any byte is written; the slot stays
// where it is, so the caller should disconnect from such a client).
//
// A client writes region 0, offset BufferBase+slot*BufferSize, the length
// and the flags of every descriptor it uses and never trusts what is in
// shared memory. A server fills the buffers the client offered, each up to
// its descriptor's length (bounded by BufferSize when set), and writes only
// length and flags: region and offset belong to the client.
//
// Write starts at the cursor, so it drops any outstanding reservation (see
// Reserve): buffers Reserve returned must not be used afterwards.
func (t *Tx) Write(frame []byte) error {
	t.reserved = 0
	if len(frame) == 0 {
		return ErrEmptyFrame
	}
	if t.writeOne(frame) {
		return nil
	}
	src := source{cur: frame}
	if t.client {
		return t.writeClient(&src, uint64(len(frame)))
	}
	return t.writeServer(&src, uint64(len(frame)))
}

// WriteVector is Write for a frame held in several slices, in order (a
// header and a payload, or the segments of a received chain being
// forwarded): the bytes are gathered straight into the ring's buffers,
// with the same chains, checks and errors as Write. Empty slices are
// allowed; a frame of zero bytes in total is ErrEmptyFrame.
func (t *Tx) WriteVector(frame [][]byte) error {
	t.reserved = 0
	var size uint64
	for _, b := range frame {
		size += uint64(len(b))
	}
	if size == 0 {
		return ErrEmptyFrame
	}
	src := source{vec: frame}
	if t.client {
		return t.writeClient(&src, size)
	}
	return t.writeServer(&src, size)
}

// writeOne is Write's common case, inline: a frame that fits one buffer,
// into a slot the cached peer index already says is free. It reports
// false, having written nothing, for anything else (a chain, a ring that
// looks full, a buffer the client offered that needs checking in detail),
// which the general path handles. A server copies the client's descriptor
// once and uses only the copy, checked as offered checks it.
func (t *Tx) writeOne(frame []byte) bool {
	size := uint64(len(frame))
	idx := t.cursor
	if t.client {
		if size > uint64(t.bufSize) || t.peer+t.n == idx {
			return false
		}
		// Config.check proved every slot's buffer lies in region 0.
		off := t.slotOffset(idx)
		copy(t.regions[0][off:uint64(off)+size], frame)
		t.ring.SetDesc(idx, Desc{Flags: 0, Region: 0, Length: uint32(size), Offset: off})
	} else {
		if t.peer == idx {
			return false
		}
		d := t.ring.Desc(idx)
		if size > uint64(d.Length) || (t.bufSize != 0 && size > uint64(t.bufSize)) ||
			int(d.Region) >= len(t.regions) {
			return false
		}
		r := t.regions[d.Region]
		if uint64(d.Offset)+uint64(d.Length) > uint64(len(r)) {
			return false // refused, and counted, by writeServer
		}
		copy(r[d.Offset:uint64(d.Offset)+size], frame)
		t.ring.setFlagsLength(idx, 0, uint32(size))
	}
	t.cursor = idx + 1
	t.stats.Packets++
	t.stats.Bytes += size
	t.stats.Descriptors++
	return true
}

// WriteBurst is Write for a run of frames that each fit one buffer, the
// common case, in one call: it copies frames[0], frames[1], ... into the
// next slots, each as a one-descriptor packet, and returns how many it
// wrote. It loads the peer's index once when the run needs more room than
// last seen, and stops before the first frame it cannot write this way
// (empty, larger than a buffer, no free slot, or, for a server, a buffer
// the client offered that does not hold it or lies outside its regions):
// Write that one to send it as a chain or learn why it cannot go. Every
// descriptor of the client's is checked as Write checks it. Nothing is
// visible to the peer before Publish.
func (t *Tx) WriteBurst(frames [][]byte) int {
	t.reserved = 0
	if int(t.free()) < len(frames) {
		// An error leaves the cached index as it was; Write reports it.
		_ = t.loadPeer()
	}
	frames = frames[:min(len(frames), int(t.free()))]
	var k int
	var bytes uint64
	if t.client {
		t.ring.prefetchDescs(t.cursor, len(frames))
		k, bytes = t.burstClient(frames)
	} else {
		k, bytes = t.burstServer(frames)
	}
	t.cursor += uint16(k)
	t.stats.Packets += uint64(k)
	t.stats.Descriptors += uint64(k)
	t.stats.Bytes += bytes
	return k
}

// burstClient is WriteBurst's loop for a client, which writes its own
// slot's buffer and the whole descriptor (see Write). Unlike the other
// burst loops it reads the ring's geometry through t and the Ring: written
// with locals it measured slower (memifinject -> memifdump medians 29.6 ->
// 23.7 Mpps, memifperf C2S 103.6 -> 98.2), its stores stalling longer on
// the descriptor lines the server holds.
func (t *Tx) burstClient(frames [][]byte) (int, uint64) {
	buf := t.regions[0]
	idx := t.cursor
	var bytes uint64
	for i, f := range frames {
		size := uint64(len(f))
		if size == 0 || size > uint64(t.bufSize) {
			return i, bytes
		}
		// Config.check proved every slot's buffer lies in region 0.
		off := t.slotOffset(idx)
		if dst := buf[off : uint64(off)+size]; smallcopy.Fits(int(size)) {
			smallcopy.Copy(dst, f)
		} else {
			copy(dst, f)
		}
		t.ring.SetDesc(idx, Desc{Length: uint32(size), Offset: off})
		bytes += size
		idx++
	}
	return len(frames), bytes
}

// burstServer is WriteBurst's loop for a server, which fills the buffer
// the client offered, checked on the descriptor's fields each read once,
// and writes only length and flags (see Write). As in Rx.burstClient, the
// ring's geometry is held in locals and the fields are loaded straight
// into registers, not through a Desc copy.
func (t *Tx) burstServer(frames [][]byte) (int, uint64) {
	descs, mask, regions := t.ring.descs, t.mask, t.regions
	limit := uint64(t.bufSize) // 0: no limit of our own
	if limit == 0 {
		limit = math.MaxUint64
	}
	idx := t.cursor
	var bytes uint64
	for i, f := range frames {
		size := uint64(len(f))
		d := &descs[idx&mask]
		region, length, offset := d.Region, d.Length, d.Offset
		if size == 0 || size > uint64(length) || size > limit || int(region) >= len(regions) {
			return i, bytes
		}
		r := regions[region]
		if uint64(offset)+uint64(length) > uint64(len(r)) {
			return i, bytes
		}
		if dst := r[offset : uint64(offset)+size]; smallcopy.Fits(int(size)) {
			smallcopy.Copy(dst, f)
		} else {
			copy(dst, f)
		}
		d.Flags, d.Length = 0, uint32(size)
		bytes += size
		idx++
	}
	return len(frames), bytes
}

// source is the frame Write or WriteVector copies into the ring: cur is
// what is left of the current slice, vec the slices after it.
type source struct {
	cur []byte
	vec [][]byte
}

// fill copies the next len(dst) bytes of the frame into dst (fewer if the
// frame ends first).
func (s *source) fill(dst []byte) {
	for len(dst) > 0 {
		if len(s.cur) == 0 {
			if len(s.vec) == 0 {
				return
			}
			s.cur, s.vec = s.vec[0], s.vec[1:]
			continue
		}
		n := copy(dst, s.cur)
		dst, s.cur = dst[n:], s.cur[n:]
	}
}

func (t *Tx) writeClient(src *source, size uint64) error {
	bs := uint64(t.bufSize)
	need := (size + bs - 1) / bs
	if need > uint64(t.n) {
		return fmt.Errorf("%w: %d bytes need %d buffers of %d bytes, the ring has %d slots",
			ErrFrameTooLarge, size, need, bs, t.n)
	}
	if need > uint64(t.free()) {
		if err := t.loadPeer(); err != nil {
			return err
		}
		if need > uint64(t.free()) {
			return ErrRingFull
		}
	}
	region := t.regions[0]
	idx := t.cursor
	for rest := size; rest > 0; idx++ {
		chunk := min(rest, bs)
		rest -= chunk
		off := t.slotOffset(idx)
		src.fill(region[off : uint64(off)+chunk])
		var flags uint16
		if rest > 0 {
			flags = DescFlagNext
		}
		t.ring.SetDesc(idx, Desc{Flags: flags, Region: 0, Length: uint32(chunk), Offset: off})
	}
	t.cursor = idx
	t.stats.Packets++
	t.stats.Bytes += size
	t.stats.Descriptors += need
	return nil
}

func (t *Tx) writeServer(src *source, size uint64) error {
	if t.bufSize != 0 && size > uint64(t.n)*uint64(t.bufSize) {
		return fmt.Errorf("%w: %d bytes do not fit %d buffers of at most %d bytes",
			ErrFrameTooLarge, size, t.n, t.bufSize)
	}
	// First pass: validate the client's offered buffers until they hold
	// the frame, remembering each one, so that the copy below uses exactly
	// what was checked even if the client rewrites the descriptors.
	free := t.free()
	loaded := false
	var have uint64
	var used uint16
	for have < size {
		if used == free {
			if free == t.n {
				return fmt.Errorf("%w: %d bytes do not fit the %d bytes of all %d offered buffers",
					ErrFrameTooLarge, size, have, t.n)
			}
			if loaded {
				return ErrRingFull
			}
			if err := t.loadPeer(); err != nil {
				return err
			}
			loaded = true
			free = t.free()
			continue
		}
		idx := t.cursor + used
		d := t.ring.Desc(idx)
		capacity, reason := t.offered(d)
		if reason != "" {
			t.stats.BadDescriptors++
			return &DescriptorError{Index: idx, Desc: d, Reason: reason}
		}
		t.segs[used] = txSeg{region: d.Region, offset: d.Offset, capacity: capacity}
		have += uint64(capacity)
		used++
	}
	rest := size
	for i, s := range t.segs[:used] {
		chunk := min(rest, uint64(s.capacity))
		rest -= chunk
		src.fill(t.regions[s.region][s.offset : uint64(s.offset)+chunk])
		var flags uint16
		if rest > 0 {
			flags = DescFlagNext
		}
		t.ring.setFlagsLength(t.cursor+uint16(i), flags, uint32(chunk))
	}
	t.cursor += used
	t.stats.Packets++
	t.stats.Bytes += size
	t.stats.Descriptors += uint64(used)
	return nil
}

// offered checks a buffer the client offered on an S2C ring and returns how
// many bytes the server may write into it, or why it must not.
func (t *Tx) offered(d Desc) (capacity uint32, reason string) {
	if _, reason := t.peerBuffer(d.Region, d.Offset, d.Length); reason != "" {
		return 0, reason
	}
	if d.Length == 0 {
		return 0, "offered buffer has length 0"
	}
	capacity = d.Length
	if t.bufSize != 0 && capacity > t.bufSize {
		capacity = t.bufSize
	}
	return capacity, ""
}

// Reserve hands out the buffer of the next free slot, for a caller that
// builds a frame in place (a zero-copy writer) instead of having Write copy
// it. The slice is the slot's whole buffer: BufferSize bytes for a client;
// for a server, the capacity the client offered in the slot's descriptor
// (bounded by BufferSize when set), after the same checks Write makes.
// Successive calls reserve successive slots; Commit fills them in the same
// order, and Publish makes the committed ones visible. Nothing is visible to
// the peer before Commit and Publish, and a reservation costs nothing to
// drop (Unreserve).
//
// Errors: ErrRingFull when every free slot is already reserved (on an S2C
// ring: the client has not offered more); *CorruptError when the peer moved
// its index illegally; for a server, *DescriptorError when the offered
// buffer lies outside the client's regions (counted in BadDescriptors, as
// for Write).
func (t *Tx) Reserve() ([]byte, error) {
	if t.reserved >= t.free() {
		if err := t.loadPeer(); err != nil {
			return nil, err
		}
		if t.reserved >= t.free() {
			return nil, ErrRingFull
		}
	}
	idx := t.cursor + t.reserved
	var buf []byte
	if t.client {
		// Config.check proved every slot's buffer lies in region 0.
		off := t.slotOffset(idx)
		end := uint64(off) + uint64(t.bufSize)
		buf = t.regions[0][off:end:end]
	} else {
		d := t.ring.Desc(idx)
		capacity, reason := t.offered(d)
		if reason != "" {
			t.stats.BadDescriptors++
			return nil, &DescriptorError{Index: idx, Desc: d, Reason: reason}
		}
		t.rsv[idx&t.mask] = txSeg{region: d.Region, offset: d.Offset, capacity: capacity}
		end := uint64(d.Offset) + uint64(capacity)
		buf = t.regions[d.Region][d.Offset:end:end]
	}
	t.reserved++
	return buf, nil
}

// Commit turns the oldest outstanding reservation into a one-descriptor
// packet holding the n bytes at buf[off:off+n] of the buffer Reserve
// returned for it, with flags 0 (no stale NEXT, as in Write). It is
// visible to the peer after the next Publish.
//
// A client describes the data where it lies: the descriptor's offset points
// off bytes into its buffer, which servers honour (DPDK, VPP and libmemif
// read desc.offset). A server must not change region or offset, because
// the client reads its buffers at the offsets it chose (and this package's
// client ignores what a server writes there), so a server moves the data to
// the start of the client's buffer first (a memmove inside the slot).
//
// Errors, wrapping ErrBadCommit: no outstanding reservation, or [off,
// off+n) not inside the reserved buffer; ErrEmptyFrame for n == 0. Nothing
// is written then.
func (t *Tx) Commit(off, n int) error {
	if t.reserved == 0 {
		return fmt.Errorf("%w: no slot is reserved", ErrBadCommit)
	}
	if n == 0 {
		return ErrEmptyFrame
	}
	idx := t.cursor
	capacity := t.bufSize
	if !t.client {
		capacity = t.rsv[idx&t.mask].capacity
	}
	if off < 0 || n < 0 || uint64(off)+uint64(n) > uint64(capacity) {
		return fmt.Errorf("%w: %d bytes at offset %d of a %d-byte buffer", ErrBadCommit, n, off, capacity)
	}
	if t.client {
		base := t.slotOffset(idx)
		t.ring.SetDesc(idx, Desc{Flags: 0, Region: 0, Length: uint32(n), Offset: base + uint32(off)})
	} else {
		s := t.rsv[idx&t.mask]
		if off != 0 {
			b := t.regions[s.region][s.offset : uint64(s.offset)+uint64(capacity)]
			copy(b[:n], b[off:off+n])
		}
		t.ring.setFlagsLength(idx, 0, uint32(n))
	}
	t.cursor++
	t.reserved--
	t.stats.Packets++
	t.stats.Bytes += uint64(n)
	t.stats.Descriptors++
	return nil
}

// Unreserve drops every outstanding reservation. The buffers Reserve
// returned must not be used afterwards: Write or the next Reserve hands
// them out again.
func (t *Tx) Unreserve() { t.reserved = 0 }

// Publish makes everything written (or committed) since the last Publish
// visible to the peer with one store of our index (head for a client, tail
// for a server); outstanding reservations stay private. It reports whether
// the peer asked to be interrupted (MASK_INT clear in the ring flags), in
// which case the caller signals the ring's eventfd. With nothing new to
// publish it does nothing and returns false.
//
// A consumer that sleeps unmasks the interrupt, then looks at our index
// once more: with our store of the index and our look at the flags, that is
// Dekker's pattern, and one side's store must not pass its load, or both
// miss the other and the consumer sleeps on a published frame. A client's
// store of head is a compare-and-swap (the server writes the flags half of
// its word), a full fence. A server's store of tail is sequentially
// consistent (a full fence) while the client asks for interrupts; while it
// polls (MASK_INT set as we last looked), it is a release store, the store
// C producers make (DPDK eth_memif_tx, VPP memif_interface_tx_inline): the
// fence waits for the whole burst's stores to reach the cache, a tenth of
// an S2C server's time at 64 bytes (memifperf S2C medians 72 -> 81 Mpps, 7
// of 8 alternating rounds). The flags are read again after the store, so
// only a client that starts to sleep in the instant before our tail reaches
// it can miss the frames, until the next Publish, as with a C server
// (memifpcap's readers sleep in slices for that reason). On the client
// the release store gained nothing: its descriptor lines are asked for
// ahead (prefetchDescs), so the fence has little to wait for.
func (t *Tx) Publish() (signal bool) {
	if t.cursor == t.published {
		return false
	}
	// The store publishes the descriptors and buffers written before it;
	// the peer's acquire load of head (DPDK eth_memif_rx, VPP
	// memif_device_input_inline) or of tail (DPDK eth_memif_rx on the
	// client, libmemif memif_rx_burst) pairs with it.
	var flags uint16
	switch {
	case t.client:
		flags = t.ring.storeHead(t.cursor)
	case t.polled:
		t.ring.releaseTail(t.cursor)
		flags = t.ring.Flags()
	default:
		t.ring.StoreTail(t.cursor)
		flags = t.ring.Flags()
	}
	t.published = t.cursor
	t.polled = flags&RingFlagMaskInt != 0
	return !t.polled
}

// Stats returns the counters, cumulative since NewTx.
func (t *Tx) Stats() TxStats { return t.stats }
