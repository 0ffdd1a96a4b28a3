package ring

import (
	"fmt"
	"math"
)

// RxStats counts what an Rx read. The fields are plain integers: an Rx
// belongs to one goroutine, which reads them through Stats.
type RxStats struct {
	Packets        uint64 // packets returned by Next
	Bytes          uint64 // bytes of those packets
	Descriptors    uint64 // descriptors (slots) they used
	BadPackets     uint64 // chains skipped because at least one descriptor was bad
	BadDescriptors uint64 // descriptors in those chains, bad or not
}

// Why a descriptor the peer wrote is refused. They are constants so that
// refusing one on the hot path does not allocate: a Tx reports them in a
// *DescriptorError, an Rx counts the chain in its Stats and skips it.
const (
	reasonRegion   = "region index out of range"
	reasonBounds   = "offset+length runs past the end of the region"
	reasonLength   = "length exceeds the buffer size"
	reasonOverflow = "packet length does not fit an int"
)

// Rx is the consumer of one ring: the server on a C2S ring, the client on an
// S2C ring. Next returns packets as views into shared memory without
// releasing them; Release hands every slot consumed so far back to the
// producer. An Rx is not safe for concurrent use.
type Rx struct {
	side

	// cursor is the index of the next slot Next reads. released is where
	// Release last left the ring: the tail we published (server), or the
	// head we published minus N (client), so that [released, cursor) are
	// slots consumed but not yet given back.
	cursor, released uint16
	// peer is the producer's index (head on C2S, tail on S2C) as last
	// loaded; it is reloaded only when it says there is nothing (more) to
	// read.
	peer uint16
	// batch is how many consumed slots ReleaseSome lets gather before it
	// hands them back (ReleaseBatch).
	batch uint16

	// meta is the metadata word of the first descriptor of the packet
	// Next returned last.
	meta uint32
	// loads counts the loads of peer (see Loads).
	loads uint64

	stats RxStats
}

// NewRx returns the consumer of r. Call Reset once the ring is live (at
// CONNECTED for a client, at CONNECT for a server) before reading.
func NewRx(r *Ring, cfg Config) (*Rx, error) {
	sd, err := newSide(r, cfg)
	if err != nil {
		return nil, fmt.Errorf("memif rx: %w", err)
	}
	x := &Rx{side: sd, batch: uint16(ReleaseBatch(int(sd.n)))}
	x.cursor = r.Tail()
	x.released = x.cursor
	x.peer = x.cursor
	return x, nil
}

// Reset resynchronises with the ring at connect. A server continues from
// the tail it last published. A client continues from tail too (0 on a ring
// it just initialised) and offers the server every slot: it refills the whole
// ring (flags 0, region 0, its own offset, length BufferSize) and publishes
// head = tail + N. Until then an S2C ring has head == tail and the server has
// no credit at all, which is why a client must Reset before expecting S2C
// traffic, and only after CONNECTED.
func (x *Rx) Reset() {
	x.cursor = x.ring.Tail()
	x.released = x.cursor
	x.peer = x.cursor
	if x.client {
		for i := uint16(0); i < x.n; i++ {
			x.refill(x.cursor + i)
		}
		x.ring.StoreHead(x.cursor + x.n)
	}
}

// refill offers the buffer of idx's slot to the server. Clearing flags
// neutralises DPDK 22.11's stale NEXT (a server that never clears flags on a
// single-buffer packet would otherwise glue it to the next one), as libmemif
// does; region and offset are rewritten so a server cannot make us point
// elsewhere by editing them.
func (x *Rx) refill(idx uint16) {
	x.ring.SetDesc(idx, Desc{
		Flags:  0,
		Region: 0,
		Length: x.bufSize,
		Offset: x.slotOffset(idx),
	})
}

// loadPeer loads the producer's index once and checks it: head may run at
// most N ahead of the tail we published; tail may not pass the head we
// published. Neither may move backwards.
func (x *Rx) loadPeer() error {
	// Pairs with the producer's release store after it wrote the
	// descriptors and buffers (DPDK eth_memif_tx, VPP
	// memif_interface_tx_inline, libmemif memif_tx_burst).
	x.loads++
	if x.client {
		tail := x.ring.Tail()
		if err := checkPeer("tail", x.released, x.peer, tail, x.n); err != nil {
			return err
		}
		x.peer = tail
		return nil
	}
	head := x.ring.Head()
	if err := checkPeer("head", x.released, x.peer, head, x.n); err != nil {
		return err
	}
	x.peer = head
	return nil
}

// Pending is how many descriptors the producer had published, as its
// index was last loaded, that Next has not read yet.
func (x *Rx) Pending() int { return int(x.peer - x.cursor) }

// Loads counts the loads of the producer's index. Next loads it only once
// it has read all it last loaded: the frames read between two changes of
// Loads were all published when the first of them was read, which lets a
// reader stamp them with one clock reading.
func (x *Rx) Loads() uint64 { return x.loads }

// Next returns the next whole packet as views into shared memory, one per
// descriptor, appended to dst[:0] (pass a slice with room for the longest
// chain expected and Next does not allocate), and its total length. The
// views stay valid, and the slots stay ours, until Release; the segments'
// capacity is clipped to their length so an append cannot spill into the
// neighbouring buffer.
//
// ErrNoPacket means no complete packet is available, including a chain
// whose last published descriptor still has NEXT: the rest is awaited. A
// client should Release before waiting, or the server may lack the slots to
// finish the chain.
//
// Everything is validated before a view is made: the producer's index
// (*CorruptError if it moved backwards or more than the ring allows; the
// caller should disconnect), and each descriptor: its region exists,
// offset+length lies inside it (64-bit math), length <= BufferSize when set.
// A chain with a bad descriptor, or one that fills the whole ring without
// ending, is skipped whole and counted in Stats().BadPackets and
// BadDescriptors, and Next goes on with the following packet.
//
// A client reads only length and flags and uses its own offset for the slot
// in region 0: a server must not move a client's buffers, so a hostile one
// cannot point the client anywhere else.
func (x *Rx) Next(dst [][]byte) (segs [][]byte, n int, err error) {
	// The common case, inline: a one-descriptor packet already published
	// as far as the cached producer index knows. The descriptor is copied
	// once and only the copy is checked and used.
	if x.cursor != x.peer {
		d := x.ring.Desc(x.cursor)
		if d.Flags&DescFlagNext == 0 {
			seg, reason := x.segment(x.cursor, d)
			if x.client {
				x.refill(x.cursor)
			}
			x.cursor++
			if reason == "" {
				x.stats.Packets++
				x.stats.Bytes += uint64(d.Length)
				x.stats.Descriptors++
				x.meta = d.Metadata
				return append(dst[:0], seg), int(d.Length), nil
			}
			x.stats.BadPackets++
			x.stats.BadDescriptors++
		}
	}
	return x.nextChain(dst)
}

// Frame is one packet Burst returned: a view of the one buffer holding it
// (clipped as Next clips its segments) and its descriptor's metadata word.
type Frame struct {
	Data     []byte
	Metadata uint32
}

// Burst is Next for a run of one-descriptor packets, the common case, in one
// call: it fills dst with up to len(dst) of them and returns how many. It
// takes only what the producer's index, as last loaded, already covers, and
// stops before the first descriptor that is not a valid one-descriptor
// packet (a chain, or a descriptor Next would refuse). It never loads the
// producer's index: when it returns fewer than asked, call Next, which
// loads it, reads chains and skips bad descriptors, then Burst again.
// Every descriptor is checked as Next checks it, on a copy read once. The
// views live, as Next's, until Release.
func (x *Rx) Burst(dst []Frame) int {
	dst = dst[:min(int(x.peer-x.cursor), len(dst))]
	var k int
	var bytes uint64
	if x.client {
		k, bytes = x.burstClient(dst)
	} else {
		k, bytes = x.burstServer(dst)
	}
	if k > 0 {
		x.cursor += uint16(k)
		x.meta = dst[k-1].Metadata
		x.stats.Packets += uint64(k)
		x.stats.Descriptors += uint64(k)
		x.stats.Bytes += bytes
	}
	return k
}

// burstClient is Burst's loop for a client, which reads only flags, length
// and metadata and uses its own slot's buffer (see segment). The ring's
// geometry is held in locals: stores into dst would otherwise make the
// compiler load it again from x for every frame. Each field of a
// descriptor is loaded once, straight into a register (a Desc copy goes
// through the stack twice), and only those values are checked and used.
func (x *Rx) burstClient(dst []Frame) (int, uint64) {
	buf := x.regions[0]
	descs, mask := x.ring.descs, x.mask
	base, size := x.bufBase, x.bufSize
	idx := x.cursor
	var bytes uint64
	for i := range dst {
		slot := idx & mask
		d := &descs[slot]
		flags, length, meta := d.Flags, d.Length, d.Metadata
		if flags&DescFlagNext != 0 || length > size {
			return i, bytes
		}
		off := uint64(base) + uint64(slot)*uint64(size)
		*d = Desc{Length: size, Offset: uint32(off)} // refilled (see Release)
		end := off + uint64(length)
		dst[i] = Frame{Data: buf[off:end:end], Metadata: meta}
		bytes += uint64(length)
		idx++
	}
	return len(dst), bytes
}

// burstServer is Burst's loop for a server, which checks the region,
// offset and length the client wrote (see peerBuffer), each read once, with
// the ring's geometry in locals (see burstClient).
func (x *Rx) burstServer(dst []Frame) (int, uint64) {
	descs, mask, regions := x.ring.descs, x.mask, x.regions
	limit := x.bufSize // 0: no limit of our own
	if limit == 0 {
		limit = math.MaxUint32
	}
	idx := x.cursor
	var bytes uint64
	for i := range dst {
		d := &descs[idx&mask]
		flags, region, length, offset, meta := d.Flags, d.Region, d.Length, d.Offset, d.Metadata
		if flags&DescFlagNext != 0 || length > limit || int(region) >= len(regions) {
			return i, bytes
		}
		r := regions[region]
		end := uint64(offset) + uint64(length)
		if end > uint64(len(r)) {
			return i, bytes
		}
		dst[i] = Frame{Data: r[offset:end:end], Metadata: meta}
		bytes += uint64(length)
		idx++
	}
	return len(dst), bytes
}

// nextChain is Next for everything but a published one-descriptor packet:
// loading the producer's index, chains, and skipping bad chains.
func (x *Rx) nextChain(dst [][]byte) (segs [][]byte, n int, err error) {
	loaded := false
	for {
		segs = dst[:0]
		var total uint64
		bad := false
		var first Desc
		avail := x.peer - x.cursor
		var used uint16
		for {
			if used == avail {
				if avail == x.n {
					// The producer can never add to this chain:
					// every slot is already published.
					bad = true
					break
				}
				if loaded {
					return dst[:0], 0, ErrNoPacket
				}
				if err := x.loadPeer(); err != nil {
					return dst[:0], 0, err
				}
				loaded = true
				avail = x.peer - x.cursor
				continue
			}
			idx := x.cursor + used
			d := x.ring.Desc(idx) // read once; the peer may be rewriting it
			if used == 0 {
				first = d
			}
			used++
			if !bad {
				seg, reason := x.segment(idx, d)
				if reason == "" && total+uint64(d.Length) > math.MaxInt {
					reason = reasonOverflow
				}
				bad = reason != ""
				segs = append(segs, seg)
				total += uint64(d.Length)
			}
			if d.Flags&DescFlagNext == 0 {
				break
			}
		}
		if x.client {
			for i := uint16(0); i < used; i++ {
				x.refill(x.cursor + i)
			}
		}
		x.cursor += used
		if bad {
			x.stats.BadPackets++
			x.stats.BadDescriptors += uint64(used)
			continue
		}
		x.stats.Packets++
		x.stats.Bytes += total
		x.stats.Descriptors += uint64(used)
		x.meta = first.Metadata
		return segs, int(total), nil
	}
}

// segment validates d and returns the view it describes.
func (x *Rx) segment(idx uint16, d Desc) ([]byte, string) {
	if x.bufSize != 0 && d.Length > x.bufSize {
		return nil, reasonLength
	}
	if x.client {
		// The client's config check guarantees the whole slot lies in
		// region 0, and Length <= BufferSize was checked above.
		off := x.slotOffset(idx)
		end := uint64(off) + uint64(d.Length)
		return x.regions[0][off:end:end], ""
	}
	return x.peerBuffer(d.Region, d.Offset, d.Length)
}

// Release gives back every slot Next consumed since the last Release, with
// one release store (no fence: nothing waits on it Dekker-style). A server
// publishes tail = cursor. A client publishes head = cursor + N; it refilled
// each slot (length BufferSize, region 0, its offset, flags 0) as Next or
// Burst took it, while the descriptor's line was at hand: a second pass
// over them here cost the S2C sink a seventh of its time (memifperf S2C
// medians 94.4 -> 107.8 Mpps, 8 of 8 alternating rounds). The server may
// use a slot only once head passes it. Views returned by Next must not be
// used afterwards: the producer may overwrite them at once.
func (x *Rx) Release() {
	if x.cursor == x.released {
		return
	}
	// The store hands the slots back; the producer's acquire load of our
	// index (DPDK eth_memif_tx reading tail or head) pairs with it.
	if x.client {
		// Every slot was refilled as it was taken (Next, Burst). The
		// client consumes S2C: flags are its own too.
		x.ring.releaseHead(x.cursor + x.n)
	} else {
		x.ring.releaseTail(x.cursor)
	}
	x.released = x.cursor
}

// ReleaseSome is Release for a reader that takes a frame, or a few, at a
// time: it hands the consumed slots back once there are a batch of them
// (ReleaseBatch: an eighth of the ring, at most 32), or once it took every
// frame the producer's index showed when last loaded (the reader caught
// up: the end of a burst, or of the traffic). The ring index it stores
// sits in a line the producer's CPU reads; stored after every frame, it
// cost a single-frame reader half its time (memifperf -read zerocopy,
// 64 B: 6.6 -> 12.0 Mpps; -read copy 4.4 -> 6.0). Meanwhile the producer
// counts those slots as in flight: a reader must Release before it waits
// for more, and when it stops; one that stops reading with frames still
// in the ring leaves up to a batch of the frames it took counted so.
func (x *Rx) ReleaseSome() {
	if x.cursor-x.released >= x.batch || x.cursor == x.peer {
		x.Release()
	}
}

// ReleaseBatch is how many consumed slots of a ring of the given size
// ReleaseSome gathers before it hands them back: an eighth of the ring,
// so that a producer always has most of it, at most 32 (the index stored
// once per 32 frames costs little more than once per 256), at least 1.
func ReleaseBatch(slots int) int {
	return max(1, min(32, slots/8))
}

// SetInterrupt sets the consumer's MASK_INT in the ring flags: want=false
// sets it (we poll, do not signal us), want=true clears it. After clearing
// it, call Next once more before blocking on the eventfd: the producer may
// have published just before it saw the flag change, without signalling.
func (x *Rx) SetInterrupt(want bool) {
	// We are the only writer of flags, so this read-modify-write of our
	// half is safe; SetFlags keeps the client's head intact.
	old := x.ring.Flags()
	f := old
	if want {
		f &^= RingFlagMaskInt
	} else {
		f |= RingFlagMaskInt
	}
	if f != old {
		// A poller calls this on every empty spin: no CAS on the word
		// the producer's head shares unless the flag really changes.
		x.ring.SetFlags(f)
	}
}

// Metadata returns the metadata word of the first descriptor of the packet
// Next returned last (0 before the first). memif defines no meaning for it
// and every known peer leaves it 0; it is passed through for applications
// that agree on one.
func (x *Rx) Metadata() uint32 { return x.meta }

// Stats returns the counters, cumulative since NewRx.
func (x *Rx) Stats() RxStats { return x.stats }
