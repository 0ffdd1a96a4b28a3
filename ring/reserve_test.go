package ring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// sameMemory reports whether a and b start at the same address and have the
// same length and capacity.
func sameMemory(a, b []byte) bool {
	return unsafe.SliceData(a) == unsafe.SliceData(b) && len(a) == len(b) && cap(a) == cap(b)
}

// A client reserves successive slots, fills them at an offset of its
// choosing and publishes them with one store of head; the descriptors point
// at the data where it lies.
func TestClientReserveCommit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	tx, rx := w.clientTx(), w.serverRx(0)
	off := func(slot int) uint32 { return w.layout.BufferOffset(C2S, 0, slot) }

	var bufs [3][]byte
	for i := range bufs {
		b, err := tx.Reserve()
		if err != nil {
			t.Fatalf("Reserve %d: %v", i, err)
		}
		want := w.mem[off(i) : off(i)+16 : off(i)+16]
		if !sameMemory(b, want) {
			t.Fatalf("Reserve %d returned %d bytes (cap %d) at %p, want slot %d's whole buffer at %p",
				i, len(b), cap(b), unsafe.SliceData(b), i, unsafe.SliceData(want))
		}
		bufs[i] = b
	}
	if got := int(tx.reserved); got != 3 {
		t.Fatalf("Reserved() = %d, want 3", got)
	}
	// Frame i sits at offset 3*i of its buffer.
	want := [][]byte{frame(0, 16), frame(1, 5), frame(2, 9)}
	for i, f := range want {
		copy(bufs[i][3*i:], f)
		if err := tx.Commit(3*i, len(f)); err != nil {
			t.Fatalf("Commit %d: %v", i, err)
		}
	}
	if got := int(tx.reserved); got != 0 {
		t.Fatalf("Reserved() = %d after three commits, want 0", got)
	}
	if h := w.srvC2S.Head(); h != 0 {
		t.Fatalf("head = %d before Publish, want 0", h)
	}
	expectNone(t, rx)
	tx.Publish()
	if h := w.srvC2S.Head(); h != 3 {
		t.Fatalf("head = %d after Publish, want 3", h)
	}
	for i, f := range want {
		wantDesc := Desc{Flags: 0, Region: 0, Length: uint32(len(f)), Offset: off(i) + uint32(3*i)}
		if got := w.srvC2S.Desc(uint16(i)); got != wantDesc {
			t.Errorf("descriptor %d = %+v, want %+v", i, got, wantDesc)
		}
		expect(t, rx, f, 1)
	}
	expectNone(t, rx)
	if got, want := tx.Stats(), (TxStats{Packets: 3, Bytes: 30, Descriptors: 3}); got != want {
		t.Errorf("tx stats = %+v, want %+v", got, want)
	}
}

// A server fills the buffers its client offered. It must not move them, so
// data committed at an offset is moved to the start of the buffer and only
// flags and length are written.
func TestServerReserveCommit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	rx := w.clientRx()
	rx.Reset()
	// The client offers 12 bytes in slot 1 (libmemif subtracts headroom).
	d := w.cliS2C.Desc(1)
	d.Length = 12
	w.cliS2C.SetDesc(1, d)
	tx := w.serverTx(0)

	b0, err := tx.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	b1, err := tx.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	o0, o1 := w.layout.BufferOffset(S2C, 0, 0), w.layout.BufferOffset(S2C, 0, 1)
	if !sameMemory(b0, w.mem[o0:o0+16:o0+16]) || !sameMemory(b1, w.mem[o1:o1+12:o1+12]) {
		t.Fatalf("Reserve returned %d and %d bytes, want the offered 16 and 12 at the client's offsets", len(b0), len(b1))
	}
	copy(b0[4:], "abcdef")
	copy(b1, "0123456789ab")
	if err := tx.Commit(4, 6); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(0, 12); err != nil {
		t.Fatal(err)
	}
	tx.Publish()
	for i, want := range []Desc{
		{Flags: 0, Region: 0, Length: 6, Offset: o0},
		{Flags: 0, Region: 0, Length: 12, Offset: o1},
	} {
		if got := w.cliS2C.Desc(uint16(i)); got != want {
			t.Errorf("slot %d = %+v, want %+v", i, got, want)
		}
	}
	expect(t, rx, []byte("abcdef"), 1)
	expect(t, rx, []byte("0123456789ab"), 1)
	expectNone(t, rx)

	// A server bound caps the capacity handed out.
	w2 := newWorld(t, 2, 16)
	rx2 := w2.clientRx()
	rx2.Reset()
	tx2 := w2.serverTx(8)
	b, err := tx2.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8 || cap(b) != 8 {
		t.Fatalf("bounded server: Reserve returned len %d cap %d, want 8", len(b), cap(b))
	}
	if err := tx2.Commit(0, 9); !errors.Is(err, ErrBadCommit) {
		t.Fatalf("Commit(0, 9) of an 8-byte buffer: %v, want ErrBadCommit", err)
	}
}

func TestReserveCommitErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	tx := w.clientTx()
	before := snapshot(w.mem)
	err := tx.Commit(0, 1)
	if !errors.Is(err, ErrBadCommit) || !strings.Contains(err.Error(), "no slot is reserved") {
		t.Fatalf("Commit without Reserve: %v", err)
	}
	for i := 0; i < 4; i++ {
		if _, err := tx.Reserve(); err != nil {
			t.Fatalf("Reserve %d of 4: %v", i, err)
		}
	}
	if _, err := tx.Reserve(); err != ErrRingFull {
		t.Fatalf("fifth Reserve on a ring of 4: %v, want ErrRingFull", err)
	}
	for _, c := range []struct {
		off, n int
		want   string
	}{
		{0, 17, "17 bytes at offset 0 of a 16-byte buffer"},
		{16, 1, "1 bytes at offset 16 of a 16-byte buffer"},
		{-1, 2, "2 bytes at offset -1"},
		{2, -1, "-1 bytes at offset 2"},
		{1 << 62, 1 << 62, "of a 16-byte buffer"},
	} {
		err := tx.Commit(c.off, c.n)
		if !errors.Is(err, ErrBadCommit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Commit(%d, %d) = %v, want ErrBadCommit with %q", c.off, c.n, err, c.want)
		}
	}
	if err := tx.Commit(0, 0); err != ErrEmptyFrame {
		t.Errorf("Commit(0, 0) = %v, want ErrEmptyFrame", err)
	}
	if !bytes.Equal(w.mem, before) {
		t.Error("refused commits changed shared memory")
	}
	if tx.Publish() || int(tx.reserved) != 4 {
		t.Errorf("after refused commits: Publish had something to publish or Reserved() = %d, want 4", int(tx.reserved))
	}
	tx.Unreserve()
	if got := int(tx.reserved); got != 0 {
		t.Fatalf("Reserved() = %d after Unreserve, want 0", got)
	}
	if err := tx.Commit(0, 1); !errors.Is(err, ErrBadCommit) {
		t.Fatalf("Commit after Unreserve: %v, want ErrBadCommit", err)
	}

	// Write drops reservations and writes at the cursor.
	b, err := tx.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Reserve(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(frame(5, 3)); err != nil {
		t.Fatal(err)
	}
	if int(tx.reserved) != 0 {
		t.Fatalf("Reserved() = %d after Write, want 0", int(tx.reserved))
	}
	if !bytes.Equal(b[:3], frame(5, 3)) {
		t.Fatal("Write did not use the slot that was reserved at the cursor")
	}
	// Reset drops them too.
	if _, err := tx.Reserve(); err != nil {
		t.Fatal(err)
	}
	tx.Reset()
	if int(tx.reserved) != 0 {
		t.Fatalf("Reserved() = %d after Reset, want 0", int(tx.reserved))
	}
}

// A server's reservation is refused, and counted, when the client offered a
// buffer outside its memory; a corrupt peer index is reported.
func TestServerReserveHostile(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	rx := w.clientRx()
	rx.Reset()
	tx := w.serverTx(0)
	for _, c := range []struct {
		d      Desc
		reason string
	}{
		{Desc{Region: 1, Offset: 0, Length: 16}, "region index out of range"},
		{Desc{Region: 0, Offset: uint32(len(w.mem)) - 4, Length: 16}, "offset+length runs past the end of the region"},
		{Desc{Region: 0, Offset: 0xFFFFFFF0, Length: 0x20}, "offset+length runs past the end of the region"},
		{Desc{Region: 0, Offset: 0, Length: 0}, "offered buffer has length 0"},
	} {
		w.cliS2C.SetDesc(0, c.d)
		_, err := tx.Reserve()
		var de *DescriptorError
		if !errors.As(err, &de) || de.Reason != c.reason || de.Index != 0 {
			t.Errorf("Reserve of %+v: %v, want a DescriptorError at index 0: %q", c.d, err, c.reason)
		}
		if int(tx.reserved) != 0 {
			t.Fatalf("a refused Reserve left %d reservations", int(tx.reserved))
		}
	}
	if got := tx.Stats().BadDescriptors; got != 4 {
		t.Errorf("BadDescriptors = %d, want 4", got)
	}

	// The client moves head more than N ahead of tail.
	w.cliS2C.StoreHead(9)
	tx2 := w.serverTx(0)
	var ce *CorruptError
	if _, err := tx2.Reserve(); !errors.As(err, &ce) {
		t.Fatalf("Reserve with head 9 on a ring of 4: %v, want *CorruptError", err)
	}
}

// Reserve/Commit and Write interleave around the u16 wrap of the indices,
// in both directions, and the consumer sees every frame whole and in order.
func TestReserveCommitInterleavedWrap(t *testing.T) {
	t.Parallel()
	for _, dir := range []Direction{C2S, S2C} {
		t.Run(dir.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, 3, 16)
			var tx *Tx
			var rx *Rx
			if dir == C2S {
				w.cliC2S.StoreHead(65531)
				w.cliC2S.StoreTail(65531)
				tx, rx = w.clientTx(), w.serverRx(0)
			} else {
				w.cliS2C.StoreHead(65531)
				w.cliS2C.StoreTail(65531)
				rx = w.clientRx()
				rx.Reset()
				tx = w.serverTx(0)
			}
			seq := 0
			var pending [][]byte
			for round := 0; round < 30; round++ {
				for {
					var f []byte
					if seq%3 == 2 {
						f = frame(seq, sizesFor16[seq%len(sizesFor16)])
						if err := tx.Write(f); errors.Is(err, ErrRingFull) {
							break
						} else if err != nil {
							t.Fatal(err)
						}
					} else {
						b, err := tx.Reserve()
						if errors.Is(err, ErrRingFull) {
							break
						} else if err != nil {
							t.Fatal(err)
						}
						size, off := 1+seq%15, seq%2
						f = frame(seq, size)
						copy(b[off:], f)
						if err := tx.Commit(off, size); err != nil {
							t.Fatal(err)
						}
					}
					pending = append(pending, f)
					seq++
				}
				tx.Publish()
				for _, f := range pending {
					expect(t, rx, f, (len(f)+15)/16)
				}
				pending = pending[:0]
				expectNone(t, rx)
				rx.Release()
			}
			if seq < 30*5 {
				t.Fatalf("only %d frames in 30 rounds", seq)
			}
		})
	}
}

// Rx.Metadata passes the first descriptor's metadata word through.
func TestRxMetadata(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 16)
	tx, rx := w.clientTx(), w.serverRx(0)
	if got := rx.Metadata(); got != 0 {
		t.Fatalf("Metadata() = %d before any packet, want 0", got)
	}
	tx.Write(frame(0, 40)) // three descriptors
	tx.Write(frame(1, 1))
	tx.Publish()
	for i, m := range []uint32{0xdeadbeef, 7, 9, 0x01020304} {
		d := w.cliC2S.Desc(uint16(i))
		d.Metadata = m
		w.cliC2S.SetDesc(uint16(i), d)
	}
	expect(t, rx, frame(0, 40), 3)
	if got := rx.Metadata(); got != 0xdeadbeef {
		t.Errorf("Metadata() = %#x after a chain, want the first descriptor's 0xdeadbeef", got)
	}
	expect(t, rx, frame(1, 1), 1)
	if got := rx.Metadata(); got != 0x01020304 {
		t.Errorf("Metadata() = %#x, want 0x01020304", got)
	}
	expectNone(t, rx)
	if got := rx.Metadata(); got != 0x01020304 {
		t.Errorf("Metadata() = %#x after ErrNoPacket, want the last packet's 0x01020304", got)
	}
}
