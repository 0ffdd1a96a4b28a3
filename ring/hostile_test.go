package ring

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Server Rx against a hostile client: the test writes the client's
// descriptors and head by hand.
func TestServerRxHostileDescriptors(t *testing.T) {
	t.Parallel()
	const maxLen = 64
	good := Desc{Region: 1, Offset: 94, Length: 6} // exactly the end of region 1
	goodBytes := []byte("GOOD!!")
	tests := []struct {
		name   string
		descs  []Desc // published before the good packet
		reason string
	}{
		{"region index out of range", []Desc{{Region: 2, Offset: 0, Length: 10}}, reasonRegion},
		{"region index far out", []Desc{{Region: 0xFFFF, Offset: 0, Length: 1}}, reasonRegion},
		{"offset+length past region end", []Desc{{Region: 1, Offset: 95, Length: 6}}, reasonBounds},
		{"offset past region end", []Desc{{Region: 1, Offset: 101, Length: 0}}, reasonBounds},
		{"length above the server's bound", []Desc{{Region: 0, Offset: 0, Length: maxLen + 1}}, reasonLength},
		// In 32 bits 0xFFFFFFF0+0x20 wraps to 0x10, which would pass.
		{"offset+length overflows u32", []Desc{{Region: 0, Offset: 0xFFFFFFF0, Length: 0x20}}, reasonBounds},
		{"bad descriptor in the middle of a chain", []Desc{
			{Flags: DescFlagNext, Region: 1, Offset: 0, Length: 10},
			{Flags: DescFlagNext, Region: 9, Offset: 0, Length: 10},
			{Region: 1, Offset: 10, Length: 10},
		}, reasonRegion},
		{"bad descriptor at the end of a chain", []Desc{
			{Flags: DescFlagNext, Region: 1, Offset: 0, Length: 10},
			{Region: 1, Offset: 99, Length: 2},
		}, reasonBounds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, 3, 16)
			extra := make([]byte, 100)
			copy(extra[94:], goodBytes)
			cfg := w.serverConfig(maxLen)
			cfg.Regions = append(cfg.Regions, extra)
			rx, err := NewRx(w.srvC2S, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rx.Reset()
			for i, d := range tt.descs {
				w.cliC2S.SetDesc(uint16(i), d)
			}
			k := len(tt.descs)
			w.cliC2S.SetDesc(uint16(k), good)
			w.cliC2S.StoreHead(uint16(k + 1))

			expect(t, rx, goodBytes, 1)
			expectNone(t, rx)
			want := RxStats{Packets: 1, Bytes: 6, Descriptors: 1, BadPackets: 1, BadDescriptors: uint64(k)}
			if got := rx.Stats(); got != want {
				t.Errorf("stats = %+v, want %+v", got, want)
			}
			// The chain was skipped for the reason its first bad
			// descriptor gives.
			reason := ""
			for i, d := range tt.descs {
				if _, reason = rx.segment(uint16(i), d); reason != "" {
					break
				}
			}
			if reason != tt.reason {
				t.Errorf("segment of the bad chain: %q, want %q", reason, tt.reason)
			}
			rx.Release()
			if got := w.cliC2S.Tail(); got != uint16(k+1) {
				t.Errorf("tail = %d after Release, want %d (bad slots are released too)", got, k+1)
			}
		})
	}
}

func TestServerRxChainLongerThanRing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	rx := w.serverRx(0)
	for i := uint16(0); i < 8; i++ {
		w.cliC2S.SetDesc(i, Desc{Flags: DescFlagNext, Offset: uint32(i) * 16, Length: 16})
	}
	w.cliC2S.StoreHead(8)
	expectNone(t, rx)
	if got, want := rx.Stats(), (RxStats{BadPackets: 1, BadDescriptors: 8}); got != want {
		t.Fatalf("stats = %+v, want %+v", got, want)
	}
	rx.Release()
	if got := w.cliC2S.Tail(); got != 8 {
		t.Fatalf("tail = %d, want 8", got)
	}
	copy(w.mem[700:], "next")
	w.cliC2S.SetDesc(8, Desc{Offset: 700, Length: 4})
	w.cliC2S.StoreHead(9)
	expect(t, rx, []byte("next"), 1)
}

func TestServerRxNextOnLastPublishedSlotWaits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	rx := w.serverRx(0)
	copy(w.mem[700:], "abcdefghij")
	w.cliC2S.SetDesc(0, Desc{Flags: DescFlagNext, Offset: 700, Length: 3})
	w.cliC2S.SetDesc(1, Desc{Flags: DescFlagNext, Offset: 703, Length: 3})
	w.cliC2S.StoreHead(2)
	expectNone(t, rx)
	expectNone(t, rx)
	rx.Release()
	if got := w.cliC2S.Tail(); got != 0 {
		t.Fatalf("tail = %d while the chain is incomplete, want 0", got)
	}
	if got := rx.Stats(); got != (RxStats{}) {
		t.Fatalf("stats = %+v while waiting, want zero", got)
	}
	w.cliC2S.SetDesc(2, Desc{Offset: 706, Length: 4})
	w.cliC2S.StoreHead(3)
	expect(t, rx, []byte("abcdefghij"), 3)
	if got, want := rx.Stats(), (RxStats{Packets: 1, Bytes: 10, Descriptors: 3}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

func TestServerRxCorruptHead(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	rx := w.serverRx(0)
	copy(w.mem[700:], "12")
	w.cliC2S.SetDesc(0, Desc{Offset: 700, Length: 1})
	w.cliC2S.SetDesc(1, Desc{Offset: 701, Length: 1})

	w.cliC2S.StoreHead(9) // 9 ahead of tail 0 in a ring of 8
	_, _, err := recv(t, rx)
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "peer moved head from 0 to 9; the ring of 8 slots allows 0..8") {
		t.Fatalf("Next with head 9 ahead: %v, want *CorruptError", err)
	}
	w.cliC2S.StoreHead(65535) // "behind" tail
	if _, _, err := recv(t, rx); !errors.As(err, &ce) {
		t.Fatalf("Next with head behind tail: %v, want *CorruptError", err)
	}

	// A sane head afterwards still works: nothing was consumed.
	w.cliC2S.StoreHead(2)
	expect(t, rx, []byte("1"), 1)
	rx.Release()
	// The cache still says one packet is there; the client pulls head back.
	w.cliC2S.StoreHead(1)
	expect(t, rx, []byte("2"), 1)
	if _, _, err := recv(t, rx); !errors.As(err, &ce) || !strings.Contains(err.Error(), "from 2 to 1") {
		t.Fatalf("Next after head moved backwards: %v, want *CorruptError", err)
	}
	if got := rx.Stats(); got.Packets != 2 || got.BadPackets != 0 {
		t.Errorf("stats = %+v, want 2 packets, no bad ones", got)
	}
}

// Client Rx against a hostile server.
func TestClientRxHostile(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	rx := w.clientRx()
	rx.Reset()
	buf := func(slot int) []byte { return w.mem[w.layout.BufferOffset(S2C, 0, slot):] }

	// Length beyond the client's buffer.
	w.srvS2C.setFlagsLength(0, 0, 17)
	// Region and offset rewritten: ignored, the client uses its own slot.
	copy(buf(1), "mine")
	w.srvS2C.SetDesc(1, Desc{Region: 7, Offset: 0xFFFF0000, Length: 4})
	w.srvS2C.StoreTail(2)

	var dst [2][]byte
	segs, n, err := rx.Next(dst[:0])
	if err != nil || n != 4 || len(segs) != 1 || string(segs[0]) != "mine" {
		t.Fatalf("Next = %q, %d, %v; want \"mine\" from the client's own buffer", segs, n, err)
	}
	if &segs[0][0] != &buf(1)[0] {
		t.Error("segment does not point at the client's own buffer of slot 1")
	}
	if got, want := rx.Stats(), (RxStats{Packets: 1, Bytes: 4, Descriptors: 1, BadPackets: 1, BadDescriptors: 1}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	rx.Release()
	// The refill put the client's own descriptors back.
	if d := w.srvS2C.Desc(1); d != (Desc{Length: 16, Offset: w.layout.BufferOffset(S2C, 0, 1)}) {
		t.Errorf("slot 1 after refill = %+v", d)
	}

	// Tail beyond the head the client published (2+8 = 10).
	w.srvS2C.StoreTail(11)
	var ce *CorruptError
	if _, _, err := recv(t, rx); !errors.As(err, &ce) || !strings.Contains(err.Error(), "tail from 2 to 11") {
		t.Fatalf("Next with tail past head: %v, want *CorruptError", err)
	}
}

// Server Tx against a hostile client: bad offered buffers are refused
// before a byte is written.
func TestServerTxHostileOffers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		slot   uint16
		desc   func(w *world) Desc
		reason string
	}{
		{"region out of range", 0, func(*world) Desc { return Desc{Region: 3, Length: 16} }, "region index out of range"},
		{"past region end", 0, func(w *world) Desc {
			return Desc{Offset: uint32(len(w.mem)) - 8, Length: 16}
		}, "offset+length runs past the end of the region"},
		{"offset near 2^32", 0, func(*world) Desc { return Desc{Offset: 0xFFFFFFF8, Length: 16} }, "offset+length runs past the end of the region"},
		{"zero length", 0, func(*world) Desc { return Desc{Length: 0} }, "offered buffer has length 0"},
		{"second buffer of the chain", 1, func(*world) Desc { return Desc{Region: 1, Length: 16} }, "region index out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, 3, 16)
			rx := w.clientRx()
			rx.Reset()
			d := tt.desc(w)
			w.cliS2C.SetDesc(tt.slot, d)
			tx := w.serverTx(0)
			before := snapshot(w.mem)
			err := tx.Write(frame(0, 20)) // two buffers of 16
			var de *DescriptorError
			if !errors.As(err, &de) {
				t.Fatalf("Write: %v, want *DescriptorError", err)
			}
			if de.Index != tt.slot || de.Desc != d || de.Reason != tt.reason {
				t.Errorf("DescriptorError = %+v, want index %d, desc %+v, reason %q", de, tt.slot, d, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not name the reason", err)
			}
			if !bytes.Equal(w.mem, before) {
				t.Error("a refused Write changed shared memory")
			}
			if tx.Publish() {
				t.Error("Publish after a refused Write = true")
			}
			if got := tx.Stats(); got != (TxStats{BadDescriptors: 1}) {
				t.Errorf("stats = %+v, want 1 bad descriptor", got)
			}
		})
	}
}

func TestTxCorruptPeerIndex(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	var ce *CorruptError

	// Server Tx: the client offers 9 buffers in a ring of 8.
	stx := w.serverTx(0)
	w.cliS2C.StoreHead(9)
	if got := stx.InFlight(); got != -1 {
		t.Errorf("server InFlight() = %d with a corrupt head, want -1", got)
	}
	if err := stx.Write(frame(0, 1)); !errors.As(err, &ce) || !strings.Contains(err.Error(), "head from 0 to 9") {
		t.Errorf("server Write with head 9 ahead: %v, want *CorruptError", err)
	}

	// Client Tx: the server claims to have consumed 3 of the 2 published.
	ctx := w.clientTx()
	ctx.Write(frame(0, 1))
	ctx.Write(frame(1, 1))
	ctx.Publish()
	w.srvC2S.StoreTail(3)
	if got := ctx.InFlight(); got != -1 {
		t.Errorf("client InFlight() = %d with tail past head, want -1", got)
	}
	var err error
	for i := 0; i < 8 && err == nil; i++ {
		err = ctx.Write(frame(i, 1)) // 6 fit from the cache, then it reloads
	}
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "tail from 0 to 3") {
		t.Errorf("client Write with tail past head: %v, want *CorruptError", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 3, 16)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no regions", Config{Role: Client, BufferSize: 16}, "client config has no regions"},
		{"zero buffer", Config{Role: Client, Regions: [][]byte{w.mem}}, "client config has buffer size 0"},
		{"buffers past region", Config{Role: Client, Regions: [][]byte{w.mem}, BufferSize: 16, BufferBase: uint32(len(w.mem)) - 127},
			fmt.Sprintf("end at %d, past the end of region 0 (%d bytes)", len(w.mem)+1, len(w.mem))},
		{"offset overflow", Config{Role: Client, Regions: [][]byte{w.mem}, BufferSize: 1 << 30, BufferBase: 0},
			"does not fit a descriptor's u32"},
		{"server with base", Config{Role: Server, BufferBase: 64}, "server config has buffer base 64"},
		{"bad role", Config{Role: 7}, "invalid role Role(7)"},
	}
	for _, tt := range tests {
		_, err := NewTx(w.cliC2S, tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "memif tx: ") {
			t.Errorf("%s: NewTx error = %v, want it to contain %q", tt.name, err, tt.want)
		}
		_, err = NewRx(w.cliC2S, tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "memif rx: ") {
			t.Errorf("%s: NewRx error = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewTx(nil, w.serverConfig(0)); err == nil || !strings.Contains(err.Error(), "nil ring") {
		t.Errorf("NewTx(nil) error = %v", err)
	}
}
