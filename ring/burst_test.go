package ring

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// got is one packet as a reader saw it: its bytes joined and its metadata.
type got struct {
	data string
	meta uint32
}

// readAll reads every packet rx holds, with Next alone or, when burst > 0,
// with Burst in runs of at most burst and Next where a run stops, as
// memifpcap's ReadBatch does; it releases every few packets.
func readAll(t *testing.T, rx *Rx, burst int) []got {
	t.Helper()
	var out []got
	frames := make([]Frame, max(burst, 1))
	var dst [8][]byte
	for {
		if burst > 0 {
			k := rx.Burst(frames[:burst])
			for _, f := range frames[:k] {
				if cap(f.Data) != len(f.Data) {
					t.Fatalf("Burst returned a view with capacity %d beyond its %d bytes", cap(f.Data), len(f.Data))
				}
				out = append(out, got{string(f.Data), f.Metadata})
			}
			if k > 0 {
				if len(out)%3 == 0 {
					rx.Release()
				}
				continue
			}
		}
		segs, n, err := rx.Next(dst[:0])
		if errors.Is(err, ErrNoPacket) {
			rx.Release()
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		joined := bytes.Join(segs, nil)
		if len(joined) != n {
			t.Fatalf("Next: n = %d, segments of %d bytes", n, len(joined))
		}
		out = append(out, got{string(joined), rx.Metadata()})
		if len(out)%3 == 0 {
			rx.Release()
		}
	}
}

// hostileDescs fills slots [0, k) of r with a seeded mix of good one-buffer
// packets, chains and descriptors no reader may follow, and publishes them.
func hostileDescs(r *Ring, rng *rand.Rand, k int, regions [][]byte, server bool) {
	for i := range k {
		d := Desc{Region: 0, Offset: uint32(rng.IntN(len(regions[0]) - 64)), Length: uint32(1 + rng.IntN(16)), Metadata: uint32(rng.IntN(3))}
		switch rng.IntN(10) {
		case 0:
			d.Flags = DescFlagNext
		case 1:
			d.Region = uint16(rng.IntN(4)) // 2 and 3 do not exist
		case 2:
			d.Offset = uint32(len(regions[d.Region])) - uint32(rng.IntN(8))
		case 3:
			d.Length = 17 + uint32(rng.IntN(1000)) // above BufferSize
		case 4:
			d.Offset = 0xFFFFFFF0
		case 5:
			d.Region = 1
			d.Offset = uint32(rng.IntN(len(regions[1]) - 16))
		}
		r.SetDesc(uint16(i), d)
	}
	if server {
		r.StoreHead(uint16(k))
	} else {
		r.StoreTail(uint16(k))
	}
}

// Burst returns exactly what Next returns, in the same order, with the
// same counters, whatever the peer wrote: good packets, chains, and
// descriptors out of bounds (both roles; runs of 1..5 frames).
func TestBurstMatchesNext(t *testing.T) {
	t.Parallel()
	for _, server := range []bool{true, false} {
		for seed := range uint64(40) {
			for _, burst := range []int{1, 2, 5} {
				var results [2][]got
				var stats [2]RxStats
				for pass, b := range []int{0, burst} {
					w := newWorld(t, 6, 16)
					rng := rand.New(rand.NewPCG(seed, 1))
					for i := range w.mem {
						w.mem[i] = byte(rng.Uint32())
					}
					w.cliC2S.Init()
					w.cliS2C.Init()
					extra := make([]byte, 100)
					for i := range extra {
						extra[i] = byte(i)
					}
					var rx *Rx
					var err error
					var peer *Ring
					if server {
						cfg := w.serverConfig(16)
						cfg.Regions = append(cfg.Regions, extra)
						rx, err = NewRx(w.srvC2S, cfg)
						peer = w.cliC2S
					} else {
						rx, err = NewRx(w.cliS2C, w.clientConfig(S2C))
						peer = w.srvS2C
					}
					if err != nil {
						t.Fatal(err)
					}
					rx.Reset()
					hostileDescs(peer, rng, 50, [][]byte{w.mem, extra}, server)
					results[pass] = readAll(t, rx, b)
					stats[pass] = rx.Stats()
				}
				if len(results[0]) == 0 {
					t.Fatalf("server %v seed %d: Next read nothing; the test proves nothing", server, seed)
				}
				if len(results[0]) != len(results[1]) {
					t.Fatalf("server %v seed %d burst %d: Next read %d packets, Burst and Next %d", server, seed, burst, len(results[0]), len(results[1]))
				}
				for i := range results[0] {
					if results[0][i] != results[1][i] {
						t.Fatalf("server %v seed %d burst %d: packet %d differs: %q/%d, want %q/%d", server, seed, burst, i,
							results[1][i].data, results[1][i].meta, results[0][i].data, results[0][i].meta)
					}
				}
				if stats[0] != stats[1] {
					t.Fatalf("server %v seed %d burst %d: stats %+v, want Next's %+v", server, seed, burst, stats[1], stats[0])
				}
			}
		}
	}
}

// Burst takes only what the producer's index, as last loaded, covers: it
// never loads it, so a fresh Rx returns nothing until Next has looked.
func TestBurstDoesNotLoadTheIndex(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	tx := w.clientTx()
	for i := range 3 {
		if err := tx.Write(frame(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	tx.Publish()
	rx := w.serverRx(16)
	frames := make([]Frame, 8)
	if k := rx.Burst(frames); k != 0 {
		t.Fatalf("Burst before any Next = %d, want 0", k)
	}
	expect(t, rx, frame(0, 10), 1)
	if k := rx.Burst(frames); k != 2 {
		t.Fatalf("Burst after Next = %d, want the 2 packets left", k)
	}
	for i, f := range frames[:2] {
		if !bytes.Equal(f.Data, frame(i+1, 10)) {
			t.Errorf("frame %d = %x..., want %x...", i, head8(f.Data), head8(frame(i+1, 10)))
		}
	}
	if got, want := rx.Stats(), (RxStats{Packets: 3, Bytes: 30, Descriptors: 3}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

// writeMix writes frames with WriteBurst (runs of at most burst, Write for
// the frame a run stops at) or, with burst 0, with Write alone, and
// returns the errors of the frames Write refused, by index.
func writeMix(t *testing.T, tx *Tx, frames [][]byte, burst int) map[int]error {
	t.Helper()
	errs := map[int]error{}
	for i := 0; i < len(frames); {
		if burst > 0 {
			k := tx.WriteBurst(frames[i:min(len(frames), i+burst)])
			i += k
			if k > 0 {
				continue
			}
			if i == len(frames) {
				break
			}
		}
		if err := tx.Write(frames[i]); err != nil {
			errs[i] = err
			if errors.Is(err, ErrRingFull) {
				return errs
			}
		}
		i++
	}
	return errs
}

// WriteBurst leaves shared memory, the counters and the errors exactly as
// Write does, frame after frame: one-buffer frames, frames that need a
// chain (written by Write where the run stops), an empty frame, a full
// ring; and for a server, buffers the client offered that are out of
// bounds or too small.
func TestWriteBurstMatchesWrite(t *testing.T) {
	t.Parallel()
	sizes := []int{1, 16, 5, 17, 0, 40, 3, 16, 16, 9, 2, 33, 7, 1, 1, 1, 12, 4, 4, 4, 4, 4, 4, 4, 4, 4}
	frames := make([][]byte, len(sizes))
	for i, n := range sizes {
		frames[i] = frame(i, n)
	}
	for _, server := range []bool{false, true} {
		for _, burst := range []int{1, 3, 64} {
			var mems [2][]byte
			var stats [2]TxStats
			var errs [2]map[int]error
			for pass, b := range []int{0, burst} {
				w := newWorld(t, 5, 16)
				var tx *Tx
				if server {
					rx := w.clientRx()
					rx.Reset()
					// Hostile offers: slots 9 to 14 of 3 bytes, smaller
					// than most frames landing there (Write chains
					// those); slot 24 out of bounds (Write refuses it,
					// and every frame after it, for good).
					w.cliS2C.SetDesc(24, Desc{Offset: uint32(len(w.mem)) - 4, Length: 16})
					for i := range uint16(6) {
						w.cliS2C.SetDesc(9+i, Desc{Offset: 64 + 4*uint32(i), Length: 3})
					}
					tx = w.serverTx(16)
				} else {
					tx = w.clientTx()
				}
				errs[pass] = writeMix(t, tx, frames, b)
				tx.Publish()
				mems[pass], stats[pass] = snapshot(w.mem), tx.Stats()
			}
			name := map[bool]string{false: "client", true: "server"}[server]
			if len(errs[0]) == 0 || stats[0].Packets == 0 {
				t.Fatalf("%s: Write refused nothing or wrote nothing; the test proves nothing", name)
			}
			if len(errs[0]) != len(errs[1]) {
				t.Fatalf("%s burst %d: errors %v, want Write's %v", name, burst, errs[1], errs[0])
			}
			for i, e := range errs[0] {
				if errs[1][i] == nil || errs[1][i].Error() != e.Error() {
					t.Errorf("%s burst %d: frame %d: error %v, want %v", name, burst, i, errs[1][i], e)
				}
			}
			if stats[0] != stats[1] {
				t.Errorf("%s burst %d: stats %+v, want %+v", name, burst, stats[1], stats[0])
			}
			if !bytes.Equal(mems[0], mems[1]) {
				t.Errorf("%s burst %d: shared memory differs from Write's", name, burst)
			}
		}
	}
}

// WriteBurst stops at the free slots it knows of after loading the peer's
// index once: on a full ring it writes nothing, and after the peer frees
// slots it fills exactly those.
func TestWriteBurstFullRing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16) // 4 slots
	tx := w.clientTx()
	rx := w.serverRx(16)
	frames := make([][]byte, 6)
	for i := range frames {
		frames[i] = frame(i, 8)
	}
	if k := tx.WriteBurst(frames); k != 4 {
		t.Fatalf("WriteBurst on an empty ring of 4 = %d, want 4", k)
	}
	tx.Publish()
	if k := tx.WriteBurst(frames[4:]); k != 0 {
		t.Fatalf("WriteBurst on a full ring = %d, want 0", k)
	}
	expect(t, rx, frames[0], 1)
	expect(t, rx, frames[1], 1)
	rx.Release()
	if k := tx.WriteBurst(frames[4:]); k != 2 {
		t.Fatalf("WriteBurst after 2 slots were freed = %d, want 2", k)
	}
	tx.Publish()
	for _, f := range frames[2:] {
		expect(t, rx, f, 1)
	}
	expectNone(t, rx)
}

// A client's Burst offers back every slot it took, as Release did: after
// Release the server finds each of them whole again (flags 0, region 0,
// length BufferSize, the client's own offset), even where a hostile server
// rewrote the descriptor before publishing it.
func TestBurstRefillsWhatItTook(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 4, 2048)
	tx, rx := w.pair(S2C, 0)
	const k = 10
	for i := range k {
		if err := tx.Write(frame(i, 60+i)); err != nil {
			t.Fatal(err)
		}
	}
	// The server moves slot 3's buffer and leaves a stale region on slot 5.
	d3 := w.srvS2C.Desc(3)
	d3.Offset = 0
	w.srvS2C.SetDesc(3, d3)
	d5 := w.srvS2C.Desc(5)
	d5.Region = 7
	w.srvS2C.SetDesc(5, d5)
	tx.Publish()
	var seg [1][]byte
	if _, n, err := rx.Next(seg[:0]); err != nil || n != 60 {
		t.Fatalf("Next: %d bytes, %v", n, err)
	}
	out := make([]Frame, k)
	if got := rx.Burst(out); got != k-1 {
		t.Fatalf("Burst took %d, want %d", got, k-1)
	}
	for i, f := range out[:k-1] {
		if want := frame(i+1, 61+i); !bytes.Equal(f.Data, want) {
			t.Fatalf("frame %d: %x, want %x", i+1, f.Data, want)
		}
	}
	rx.Release()
	for i := range uint16(k) {
		want := Desc{Length: 2048, Offset: w.layout.BufferOffset(S2C, 0, int(i))}
		if got := w.srvS2C.Desc(i); got != want {
			t.Errorf("slot %d after Release: %+v, want %+v", i, got, want)
		}
	}
}

// ReleaseSome hands the consumed slots back a batch at a time, and all of
// them once the reader took every frame the producer had published, in
// both directions: the producer's view of the consumer's index (tail on
// C2S, head - N on S2C) moves only then.
func TestReleaseSomeBatches(t *testing.T) {
	t.Parallel()
	for _, dir := range []Direction{C2S, S2C} {
		t.Run(dir.String(), func(t *testing.T) {
			w := newWorld(t, 8, 2048) // 256 slots: batches of 32
			tx, rx := w.pair(dir, 0)
			if b := ReleaseBatch(256); b != 32 {
				t.Fatalf("ReleaseBatch(256) = %d, want 32", b)
			}
			r := w.cliC2S
			if dir == S2C {
				r = w.srvS2C
			}
			// What the producer sees the consumer gave back.
			given := func() uint16 {
				if dir == C2S {
					return r.Tail()
				}
				return r.Head() - 256
			}
			const n = 100 // published at once: 3 batches, then 4 frames
			for i := range n {
				if err := tx.Write(frame(i, 60)); err != nil {
					t.Fatal(err)
				}
			}
			tx.Publish()
			var seg [1][]byte
			for i := 1; i <= n; i++ {
				if _, _, err := rx.Next(seg[:0]); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				rx.ReleaseSome()
				want := uint16(i / 32 * 32)
				if i == n {
					want = n // caught up: every slot
				}
				if got := given(); got != want {
					t.Fatalf("after frame %d the producer sees %d slots given back, want %d", i, got, want)
				}
			}
		})
	}
}
