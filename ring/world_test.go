package ring

import (
	"bytes"
	"errors"
	"testing"
)

// world is one client region 0 laid out like DPDK's copy mode (one C2S and
// one S2C ring, then the buffers) with two views of each ring: one for the
// client process and one for the server process. Tests drive both sides
// from one goroutine, or one goroutine per side.
type world struct {
	t      testing.TB
	layout Layout
	mem    []byte

	cliC2S, srvC2S *Ring
	cliS2C, srvS2C *Ring
}

func newWorld(t testing.TB, log2 uint8, bufSize uint32) *world {
	t.Helper()
	l := Layout{CacheLine: 64, Log2RingSize: log2, NumC2S: 1, NumS2C: 1, BufferSize: bufSize}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, layout: l, mem: make([]byte, l.RegionSize())}
	view := func(d Direction) *Ring {
		return mustRing(t, w.mem[l.RingOffset(d, 0):], l.CacheLine, log2)
	}
	w.cliC2S, w.srvC2S = view(C2S), view(C2S)
	w.cliS2C, w.srvS2C = view(S2C), view(S2C)
	w.cliC2S.Init()
	w.cliS2C.Init()
	return w
}

func (w *world) clientConfig(d Direction) Config {
	return Config{Role: Client, Regions: [][]byte{w.mem}, BufferSize: w.layout.BufferSize, BufferBase: w.layout.BufferOffset(d, 0, 0)}
}

func (w *world) serverConfig(maxLen uint32) Config {
	return Config{Role: Server, Regions: [][]byte{w.mem}, BufferSize: maxLen}
}

// pair returns the producer and the consumer of dir's ring: on C2S the
// client's Tx and the server's Rx (maxLen as serverRx), on S2C the server's
// Tx and the client's Rx, Reset so that its buffers are offered.
func (w *world) pair(dir Direction, maxLen uint32) (*Tx, *Rx) {
	if dir == C2S {
		return w.clientTx(), w.serverRx(maxLen)
	}
	rx := w.clientRx()
	rx.Reset()
	return w.serverTx(0), rx
}

func (w *world) clientTx() *Tx {
	w.t.Helper()
	tx, err := NewTx(w.cliC2S, w.clientConfig(C2S))
	if err != nil {
		w.t.Fatal(err)
	}
	return tx
}

func (w *world) serverRx(maxLen uint32) *Rx {
	w.t.Helper()
	rx, err := NewRx(w.srvC2S, w.serverConfig(maxLen))
	if err != nil {
		w.t.Fatal(err)
	}
	rx.Reset()
	return rx
}

func (w *world) serverTx(maxLen uint32) *Tx {
	w.t.Helper()
	tx, err := NewTx(w.srvS2C, w.serverConfig(maxLen))
	if err != nil {
		w.t.Fatal(err)
	}
	return tx
}

func (w *world) clientRx() *Rx {
	w.t.Helper()
	rx, err := NewRx(w.cliS2C, w.clientConfig(S2C))
	if err != nil {
		w.t.Fatal(err)
	}
	return rx
}

// frame returns a recognisable frame: its sequence number in every byte
// position mixed with the position.
func frame(seq, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(seq*131 + i*7 + i>>8)
	}
	return b
}

// recv reads one packet and returns it joined, checking that n matches.
func recv(t testing.TB, rx *Rx) ([]byte, int, error) {
	t.Helper()
	var dst [8][]byte
	segs, n, err := rx.Next(dst[:0])
	if err != nil {
		return nil, 0, err
	}
	joined := bytes.Join(segs, nil)
	if len(joined) != n {
		t.Fatalf("Next returned n = %d but segments totalling %d bytes", n, len(joined))
	}
	return joined, len(segs), nil
}

// expect reads one packet and checks its bytes and descriptor count.
func expect(t testing.TB, rx *Rx, want []byte, wantSegs int) {
	t.Helper()
	got, segs, err := recv(t, rx)
	if err != nil {
		t.Fatalf("Next: %v, want a packet of %d bytes", err, len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Next returned %d bytes %x..., want %d bytes %x...", len(got), head8(got), len(want), head8(want))
	}
	if segs != wantSegs {
		t.Fatalf("Next returned %d segments, want %d", segs, wantSegs)
	}
}

func expectNone(t testing.TB, rx *Rx) {
	t.Helper()
	if _, _, err := recv(t, rx); !errors.Is(err, ErrNoPacket) {
		t.Fatalf("Next error = %v, want ErrNoPacket", err)
	}
}

func head8(b []byte) []byte { return b[:min(len(b), 8)] }

func snapshot(b []byte) []byte { return append([]byte(nil), b...) }
