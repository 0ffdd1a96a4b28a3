package ring

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestC2SBasic(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	tx, rx := w.clientTx(), w.serverRx(0)

	frames := [][]byte{frame(1, 1), frame(2, 16), frame(3, 17)}
	for _, f := range frames {
		if err := tx.Write(f); err != nil {
			t.Fatalf("Write(%d bytes): %v", len(f), err)
		}
	}
	// Not visible before Publish.
	if h := w.srvC2S.Head(); h != 0 {
		t.Fatalf("head = %d before Publish, want 0", h)
	}
	expectNone(t, rx)

	if !tx.Publish() {
		t.Error("Publish() = false with MASK_INT clear, want true")
	}
	if h := w.srvC2S.Head(); h != 4 {
		t.Fatalf("head = %d after Publish, want 4", h)
	}
	off := func(slot int) uint32 { return w.layout.BufferOffset(C2S, 0, slot) }
	wantDescs := []Desc{
		{Flags: 0, Region: 0, Length: 1, Offset: off(0)},
		{Flags: 0, Region: 0, Length: 16, Offset: off(1)},
		{Flags: DescFlagNext, Region: 0, Length: 16, Offset: off(2)},
		{Flags: 0, Region: 0, Length: 1, Offset: off(3)},
	}
	for i, want := range wantDescs {
		if got := w.srvC2S.Desc(uint16(i)); got != want {
			t.Errorf("descriptor %d = %+v, want %+v", i, got, want)
		}
	}

	expect(t, rx, frames[0], 1)
	expect(t, rx, frames[1], 1)
	expect(t, rx, frames[2], 2)
	expectNone(t, rx)

	if tl := w.cliC2S.Tail(); tl != 0 {
		t.Errorf("tail = %d before Release, want 0", tl)
	}
	rx.Release()
	if tl := w.cliC2S.Tail(); tl != 4 {
		t.Errorf("tail = %d after Release, want 4", tl)
	}
	if tx.Publish() {
		t.Error("Publish() with nothing written = true, want false")
	}
	if h := w.cliC2S.Head(); h != 4 {
		t.Errorf("head = %d after an empty Publish, want 4", h)
	}
	if got, want := tx.Stats(), (TxStats{Packets: 3, Bytes: 34, Descriptors: 4}); got != want {
		t.Errorf("tx stats = %+v, want %+v", got, want)
	}
	if got, want := rx.Stats(), (RxStats{Packets: 3, Bytes: 34, Descriptors: 4}); got != want {
		t.Errorf("rx stats = %+v, want %+v", got, want)
	}
}

// sizesFor16 cycles through sizes that need 1, 1, 2, 3, 1 and 3 descriptors
// of 16 bytes: 11 per cycle, so that on a ring of 8 every slot in turn holds
// single buffers, chain heads, middles and ends (a stale NEXT would show).
var sizesFor16 = []int{5, 16, 17, 40, 1, 33}

func TestC2SWrapAround(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	// A ring that has been in use: both indices just below 2^16.
	w.cliC2S.StoreHead(65530)
	w.cliC2S.StoreTail(65530)
	tx, rx := w.clientTx(), w.serverRx(0)

	seq, descs := 0, 0
	var pending [][]byte
	for round := 0; round < 40; round++ {
		for {
			size := sizesFor16[seq%len(sizesFor16)]
			f := frame(seq, size)
			err := tx.Write(f)
			if errors.Is(err, ErrRingFull) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: Write: %v", round, err)
			}
			pending = append(pending, f)
			descs += (size + 15) / 16
			seq++
		}
		if round == 0 {
			// 1+1+2+3 descriptors from 65530: the 40-byte chain
			// occupies 65534, 65535 and 0.
			if got := w.srvC2S.Desc(65535); got.Flags != DescFlagNext || got.Length != 16 {
				t.Fatalf("descriptor 65535 = %+v, want the middle of a chain", got)
			}
		}
		tx.Publish()
		if got, want := w.srvC2S.Head(), uint16(65530+descs); got != want {
			t.Fatalf("round %d: head = %d, want %d", round, got, want)
		}
		for _, f := range pending {
			expect(t, rx, f, (len(f)+15)/16)
		}
		pending = pending[:0]
		expectNone(t, rx)
		rx.Release()
		if got, want := w.cliC2S.Tail(), uint16(65530+descs); got != want {
			t.Fatalf("round %d: tail = %d, want %d", round, got, want)
		}
	}
	// Each round fills at least 6 of the 8 slots (the longest chain is 3).
	if descs < 40*6 {
		t.Fatalf("only %d descriptors went through in 40 rounds", descs)
	}
	if got := rx.Stats(); got.Packets != uint64(seq) || got.Descriptors != uint64(descs) || got.BadPackets != 0 {
		t.Errorf("rx stats = %+v, want %d packets, %d descriptors", got, seq, descs)
	}
}

func TestC2SFullAndEmpty(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	tx, rx := w.clientTx(), w.serverRx(0)
	if got := freeSlots(tx); got != 4 {
		t.Fatalf("Free() = %d on an empty ring, want 4", got)
	}
	for i := 0; i < 4; i++ {
		if err := tx.Write(frame(i, 1)); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
	if err := tx.Write(frame(4, 1)); err != ErrRingFull {
		t.Fatalf("Write into a full ring: %v, want ErrRingFull", err)
	}
	if got := freeSlots(tx); got != 0 {
		t.Fatalf("Free() = %d on a full ring, want 0", got)
	}
	tx.Publish()

	// Consumed but not released: still full.
	expect(t, rx, frame(0, 1), 1)
	if err := tx.Write(frame(4, 1)); err != ErrRingFull {
		t.Fatalf("Write before the server released: %v, want ErrRingFull", err)
	}
	rx.Release()
	if got := freeSlots(tx); got != 1 {
		t.Fatalf("Free() = %d after one release, want 1", got)
	}
	if err := tx.Write(frame(4, 1)); err != nil {
		t.Fatalf("Write after release: %v", err)
	}
	if err := tx.Write(frame(5, 1)); err != ErrRingFull {
		t.Fatalf("Write: %v, want ErrRingFull", err)
	}
	tx.Publish()
	for i := 1; i <= 4; i++ {
		expect(t, rx, frame(i, 1), 1)
	}
	expectNone(t, rx)
	rx.Release()
	if got := freeSlots(tx); got != 4 {
		t.Fatalf("Free() = %d after draining, want 4", got)
	}
}

func TestC2SChain9000(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 2048)
	tx, rx := w.clientTx(), w.serverRx(2048)
	f := frame(9, 9000)
	if err := tx.Write(f); err != nil {
		t.Fatal(err)
	}
	tx.Publish()
	for i := 0; i < 5; i++ {
		want := Desc{Flags: DescFlagNext, Length: 2048, Offset: w.layout.BufferOffset(C2S, 0, i)}
		if i == 4 {
			want.Flags, want.Length = 0, 9000-4*2048
		}
		if got := w.srvC2S.Desc(uint16(i)); got != want {
			t.Errorf("descriptor %d = %+v, want %+v", i, got, want)
		}
	}
	var dst [8][]byte
	segs, n, err := rx.Next(dst[:0])
	if err != nil {
		t.Fatal(err)
	}
	if n != 9000 || len(segs) != 5 {
		t.Fatalf("Next: %d bytes in %d segments, want 9000 in 5", n, len(segs))
	}
	for i, s := range segs {
		want := 2048
		if i == 4 {
			want = 808
		}
		if len(s) != want || cap(s) != want {
			t.Errorf("segment %d: len %d cap %d, want %d", i, len(s), cap(s), want)
		}
	}
	if !bytes.Equal(bytes.Join(segs, nil), f) {
		t.Error("chained packet bytes differ from the frame")
	}
	expectNone(t, rx)
}

func TestC2SChainDoesNotFit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 2048)
	tx := w.clientTx()
	for i := 0; i < 4; i++ {
		if err := tx.Write(frame(i, 64)); err != nil {
			t.Fatal(err)
		}
	}
	tx.Publish()
	before := snapshot(w.mem)
	// 5 descriptors, 4 free.
	if err := tx.Write(frame(9, 9000)); err != ErrRingFull {
		t.Fatalf("Write(9000) with 4 free slots: %v, want ErrRingFull", err)
	}
	if tx.Publish() {
		t.Error("Publish() after a refused Write = true, want false")
	}
	if !bytes.Equal(w.mem, before) {
		t.Error("a refused chain changed shared memory")
	}
	if h := w.srvC2S.Head(); h != 4 {
		t.Errorf("head = %d, want 4", h)
	}
	if got := tx.Stats(); got.Packets != 4 || got.Descriptors != 4 {
		t.Errorf("tx stats = %+v, want 4 packets and 4 descriptors", got)
	}
}

func TestTxFrameSizeErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	tx := w.clientTx()
	before := snapshot(w.mem)
	err := tx.Write(frame(0, 65))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("Write(65 bytes) into 4 slots of 16: %v, want ErrFrameTooLarge", err)
	}
	if want := "65 bytes need 5 buffers of 16 bytes, the ring has 4 slots"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if err := tx.Write(nil); err != ErrEmptyFrame {
		t.Errorf("Write(nil) = %v, want ErrEmptyFrame", err)
	}
	if !bytes.Equal(w.mem, before) {
		t.Error("refused writes changed shared memory")
	}
	if err := tx.Write(frame(0, 64)); err != nil {
		t.Errorf("Write(64 bytes) into 4 empty slots of 16: %v", err)
	}

	// Server side: at most N*BufferSize when BufferSize is set.
	stx := w.serverTx(8)
	crx := w.clientRx()
	crx.Reset()
	if err := stx.Write(frame(0, 33)); !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "33 bytes do not fit 4 buffers of at most 8 bytes") {
		t.Errorf("server Write(33) with 4 buffers of 8: %v", err)
	}
	if err := stx.Write(nil); err != ErrEmptyFrame {
		t.Errorf("server Write(nil) = %v, want ErrEmptyFrame", err)
	}
	// Without a bound, the offered capacities decide: 4 x 16 = 64.
	stx = w.serverTx(0)
	if err := stx.Write(frame(0, 65)); !errors.Is(err, ErrFrameTooLarge) || !strings.Contains(err.Error(), "65 bytes do not fit the 64 bytes of all 4 offered buffers") {
		t.Errorf("server Write(65) with 4 offered buffers of 16: %v", err)
	}
	if err := stx.Write(frame(0, 64)); err != nil {
		t.Errorf("server Write(64): %v", err)
	}
}

func TestS2CNoRefillNoCredit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	tx := w.serverTx(0)
	if got := freeSlots(tx); got != 0 {
		t.Fatalf("server Free() = %d before the client refilled, want 0", got)
	}
	if err := tx.Write(frame(0, 1)); err != ErrRingFull {
		t.Fatalf("server Write before refill: %v, want ErrRingFull", err)
	}
	rx := w.clientRx()
	rx.Reset()
	if h := w.srvS2C.Head(); h != 8 {
		t.Fatalf("head = %d after the client's Reset, want 8", h)
	}
	for i := 0; i < 8; i++ {
		want := Desc{Length: 16, Offset: w.layout.BufferOffset(S2C, 0, i)}
		if got := w.srvS2C.Desc(uint16(i)); got != want {
			t.Errorf("refilled descriptor %d = %+v, want %+v", i, got, want)
		}
	}
	if got := freeSlots(tx); got != 8 {
		t.Fatalf("server Free() = %d after refill, want 8", got)
	}
}

func TestS2CWrapAround(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	w.cliS2C.StoreHead(65530)
	w.cliS2C.StoreTail(65530)
	rx := w.clientRx()
	rx.Reset() // head = 65530 + 8 = 2
	if h := w.srvS2C.Head(); h != 2 {
		t.Fatalf("head = %d after Reset, want 2", h)
	}
	tx := w.serverTx(0)

	seq, descs := 0, 0
	var pending [][]byte
	for round := 0; round < 40; round++ {
		for {
			size := sizesFor16[seq%len(sizesFor16)]
			f := frame(seq, size)
			err := tx.Write(f)
			if errors.Is(err, ErrRingFull) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: Write: %v", round, err)
			}
			pending = append(pending, f)
			descs += (size + 15) / 16
			seq++
		}
		tx.Publish()
		if got, want := w.cliS2C.Tail(), uint16(65530+descs); got != want {
			t.Fatalf("round %d: tail = %d, want %d", round, got, want)
		}
		// The server wrote length and flags only; region and offset
		// are still the client's.
		for i := 0; i < 8; i++ {
			d := w.cliS2C.Desc(uint16(i))
			if d.Region != 0 || d.Offset != w.layout.BufferOffset(S2C, 0, i) {
				t.Fatalf("round %d: slot %d = %+v: the server moved the buffer", round, i, d)
			}
		}
		for _, f := range pending {
			expect(t, rx, f, (len(f)+15)/16)
		}
		pending = pending[:0]
		expectNone(t, rx)
		rx.Release()
		if got, want := w.srvS2C.Head(), uint16(65530+descs+8); got != want {
			t.Fatalf("round %d: head = %d, want %d", round, got, want)
		}
	}
	if got := tx.Stats(); got.Packets != uint64(seq) || got.Descriptors != uint64(descs) {
		t.Errorf("tx stats = %+v, want %d packets, %d descriptors", got, seq, descs)
	}
}

// DPDK 22.11 as server never clears flags on the first descriptor of a
// packet (eth_memif_tx in drivers/net/memif/rte_eth_memif.c sets
// MEMIF_DESC_FLAG_NEXT on chains and leaves the flags of a single-buffer
// frame as they were). The client's refill clears them, so a
// single-buffer packet in a slot that last held a chain head stays single.
func TestS2CRefillClearsStaleNext(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	rx := w.clientRx()
	rx.Reset()
	tx := w.serverTx(0)
	if err := tx.Write(frame(0, 40)); err != nil { // slots 0-2: NEXT, NEXT, 0
		t.Fatal(err)
	}
	if err := tx.Write(frame(1, 3)); err != nil { // slot 3
		t.Fatal(err)
	}
	tx.Publish()
	if d := w.cliS2C.Desc(0); d.Flags != DescFlagNext {
		t.Fatalf("slot 0 = %+v, want NEXT set by the chain", d)
	}
	expect(t, rx, frame(0, 40), 3)
	expect(t, rx, frame(1, 3), 1)
	rx.Release()
	for i := 0; i < 4; i++ {
		want := Desc{Length: 16, Offset: w.layout.BufferOffset(S2C, 0, i)}
		if got := w.cliS2C.Desc(uint16(i)); got != want {
			t.Errorf("slot %d after refill = %+v, want %+v", i, got, want)
		}
	}
	// A buggy server fills index 4 (slot 0) writing the length only, and
	// another packet in index 5.
	copy(w.mem[w.layout.BufferOffset(S2C, 0, 0):], "abcde")
	copy(w.mem[w.layout.BufferOffset(S2C, 0, 1):], "xyz")
	w.srvS2C.setFlagsLength(5, 0, 3)
	w.srvS2C.slot(4).Length = 5
	w.srvS2C.StoreTail(6)
	expect(t, rx, []byte("abcde"), 1)
	expect(t, rx, []byte("xyz"), 1)
}

// A client that offers less than BufferSize (libmemif subtracts headroom)
// gets packets split at what it offered; a server bound caps the capacity.
func TestServerTxCapacity(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	rx := w.clientRx()
	rx.Reset()
	for i := uint16(0); i < 4; i++ {
		d := w.cliS2C.Desc(i)
		d.Length = 10
		w.cliS2C.SetDesc(i, d)
	}
	tx := w.serverTx(0)
	if err := tx.Write(frame(0, 25)); err != nil {
		t.Fatal(err)
	}
	tx.Publish()
	for i, want := range []Desc{
		{Flags: DescFlagNext, Length: 10, Offset: w.layout.BufferOffset(S2C, 0, 0)},
		{Flags: DescFlagNext, Length: 10, Offset: w.layout.BufferOffset(S2C, 0, 1)},
		{Flags: 0, Length: 5, Offset: w.layout.BufferOffset(S2C, 0, 2)},
		{Flags: 0, Length: 10, Offset: w.layout.BufferOffset(S2C, 0, 3)}, // untouched
	} {
		if got := w.cliS2C.Desc(uint16(i)); got != want {
			t.Errorf("slot %d = %+v, want %+v", i, got, want)
		}
	}
	expect(t, rx, frame(0, 25), 3)
	rx.Release()

	// The client offers 16 but the server accepts at most 8 per buffer.
	w2 := newWorld(t, 2, 16)
	rx2 := w2.clientRx()
	rx2.Reset()
	tx2 := w2.serverTx(8)
	if err := tx2.Write(frame(1, 20)); err != nil {
		t.Fatal(err)
	}
	tx2.Publish()
	for i, want := range []uint32{8, 8, 4} {
		if got := w2.cliS2C.Desc(uint16(i)).Length; got != want {
			t.Errorf("bounded server: slot %d length %d, want %d", i, got, want)
		}
	}
	expect(t, rx2, frame(1, 20), 3)
}

func TestPublishSignal(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	ctx, srx := w.clientTx(), w.serverRx(0)
	w.cliC2S.StoreHead(0) // no-op, the word is shared

	srx.SetInterrupt(false) // the server polls
	if f := w.cliC2S.Flags(); f != RingFlagMaskInt {
		t.Fatalf("C2S flags = %#x after SetInterrupt(false), want MASK_INT", f)
	}
	ctx.Write(frame(0, 1))
	if ctx.Publish() {
		t.Error("client Publish with MASK_INT set = true, want false")
	}
	if h, f := w.srvC2S.Head(), w.srvC2S.Flags(); h != 1 || f != RingFlagMaskInt {
		t.Errorf("head %d flags %#x, want 1 and MASK_INT", h, f)
	}
	srx.SetInterrupt(true)
	if h, f := w.srvC2S.Head(), w.srvC2S.Flags(); h != 1 || f != 0 {
		t.Errorf("after SetInterrupt(true): head %d flags %#x, want 1 and 0", h, f)
	}
	// This Publish stores head with the release store (the server polled
	// as the last Publish saw), and must still see the flags change.
	ctx.Write(frame(1, 1))
	if !ctx.Publish() {
		t.Error("client Publish with MASK_INT clear = false, want true")
	}
	if h, f := w.srvC2S.Head(), w.srvC2S.Flags(); h != 2 || f != 0 {
		t.Errorf("after the second Publish: head %d flags %#x, want 2 and 0", h, f)
	}
	// And the flags' half of the word is the server's: a release store of
	// head leaves it as the server set it.
	srx.SetInterrupt(false)
	ctx.Write(frame(4, 1))
	ctx.Publish()
	ctx.Write(frame(5, 1))
	if ctx.Publish() {
		t.Error("client Publish with MASK_INT set again = true, want false")
	}
	if h, f := w.srvC2S.Head(), w.srvC2S.Flags(); h != 4 || f != RingFlagMaskInt {
		t.Errorf("after four Publishes: head %d flags %#x, want 4 and MASK_INT", h, f)
	}

	crx := w.clientRx()
	crx.Reset()
	stx := w.serverTx(0)
	crx.SetInterrupt(false)
	stx.Write(frame(2, 1))
	if stx.Publish() {
		t.Error("server Publish with MASK_INT set = true, want false")
	}
	if h := w.srvS2C.Head(); h != 4 {
		t.Errorf("SetInterrupt changed head to %d", h)
	}
	crx.SetInterrupt(true)
	stx.Write(frame(3, 1))
	if !stx.Publish() {
		t.Error("server Publish with MASK_INT clear = false, want true")
	}
	if tl, f := w.cliS2C.Tail(), w.cliS2C.Flags(); tl != 2 || f != 0 {
		t.Errorf("after the second server Publish: tail %d flags %#x, want 2 and 0", tl, f)
	}
}

func TestNextHoldsViewsUntilRelease(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	tx, rx := w.clientTx(), w.serverRx(0)
	tx.Write(frame(0, 16))
	tx.Write(frame(1, 16))
	tx.Publish()
	var d1, d2 [1][]byte
	s1, _, err := rx.Next(d1[:0])
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := rx.Next(d2[:0])
	if err != nil {
		t.Fatal(err)
	}
	// Not released: the client cannot reuse those slots.
	if got := freeSlots(tx); got != 2 {
		t.Fatalf("Free() = %d with 2 packets held, want 2", got)
	}
	tx.Write(frame(2, 16))
	tx.Write(frame(3, 16))
	tx.Publish()
	if !bytes.Equal(s1[0], frame(0, 16)) || !bytes.Equal(s2[0], frame(1, 16)) {
		t.Fatal("held views changed before Release")
	}
	rx.Release()
	if got := freeSlots(tx); got != 2 {
		t.Fatalf("Free() = %d after Release, want 2", got)
	}
}

// One producer and one consumer goroutine per direction, like two processes.
// With -race this checks that descriptors and buffers are handed over only
// through the atomic head/tail.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const frames = 3000
	for _, dir := range []Direction{C2S, S2C} {
		t.Run(dir.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, 3, 16)
			tx, rx := w.pair(dir, 16)
			var wg sync.WaitGroup
			var stop atomic.Bool // either side failed: the other gives up
			defer func() { stop.Store(true); wg.Wait() }()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := 0; seq < frames; {
					err := tx.Write(frame(seq, seq%60+1))
					if err == ErrRingFull {
						if stop.Load() {
							return
						}
						tx.Publish()
						runtime.Gosched()
						continue
					}
					if err != nil {
						t.Errorf("Write %d: %v", seq, err)
						stop.Store(true)
						return
					}
					seq++
					if seq%5 == 0 {
						tx.Publish()
					}
				}
				tx.Publish()
			}()
			var dst [4][]byte
			for seq := 0; seq < frames; {
				segs, n, err := rx.Next(dst[:0])
				if err == ErrNoPacket {
					if stop.Load() {
						t.Fatalf("producer stopped after %d packets", seq)
					}
					rx.Release()
					runtime.Gosched()
					continue
				}
				if err != nil {
					t.Fatalf("Next %d: %v", seq, err)
				}
				want := frame(seq, seq%60+1)
				if n != len(want) || !bytes.Equal(bytes.Join(segs, nil), want) {
					t.Fatalf("packet %d: %d bytes, want %d bytes %x...", seq, n, len(want), head8(want))
				}
				seq++
				if seq%3 == 0 {
					rx.Release()
				}
			}
			rx.Release()
			if got := rx.Stats(); got.Packets != frames || got.BadPackets != 0 {
				t.Errorf("rx stats %+v, want %d packets", got, frames)
			}
		})
	}
}

// freeSlots loads the peer's index and returns how many slots Write may
// fill, as Write sees them.
func freeSlots(tx *Tx) int {
	if tx.loadPeer() != nil {
		return -1
	}
	return int(tx.free())
}
