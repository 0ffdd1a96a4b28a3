package memiftap

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// frameFor is frame seq of queue q sent by side from: 60 to 9000 bytes,
// every byte a function of (from, q, seq), so that a receiver checks each
// one and the order.
func frameFor(from Side, q, seq int) []byte {
	n := 60 + (seq*7919+q*131)%8941
	b := make([]byte, n)
	fillFrame(b, from, q, seq)
	return b
}

// fixedLen is the length of the frames of the streaming tests (when
// frameFor makes a frame this long, it is the same frame).
const fixedLen = 201

// fixedFrame is frameFor at fixedLen bytes.
func fixedFrame(from Side, q, seq int) []byte {
	b := make([]byte, fixedLen)
	fillFrame(b, from, q, seq)
	return b
}

func fillFrame(b []byte, from Side, q, seq int) {
	// An Ethernet header the tools decode, then (from, q, seq), then a
	// pattern.
	copy(b, []byte{2, 0, 0, 0, 0, byte(1 - from), 2, 0, 0, 0, 0, byte(from), 0x88, 0xb5})
	b[14], b[15] = byte(from), byte(q)
	binary.BigEndian.PutUint32(b[16:], uint32(seq))
	for i := 20; i < len(b); i++ {
		b[i] = byte(seq*13 + i*31 + q*7 + int(from))
	}
}

// frameID decodes (from, q, seq) from a frame made by frameFor.
func frameID(b []byte) (from Side, q, seq int, ok bool) {
	if len(b) < 20 {
		return 0, 0, 0, false
	}
	return Side(b[14]), int(b[15]), int(binary.BigEndian.Uint32(b[16:])), true
}

// checkFrame says what is wrong with a received frame, "" if nothing.
func checkFrame(b []byte, wantFrom Side, wantQ, wantSeq int) string {
	from, q, seq, ok := frameID(b)
	if !ok || from != wantFrom || q != wantQ || seq != wantSeq {
		return fmt.Sprintf("got frame (from %v, queue %d, seq %d, %d bytes), want (from %v, queue %d, seq %d)", from, q, seq, len(b), wantFrom, wantQ, wantSeq)
	}
	want := frameFor(from, q, seq)
	if len(b) == fixedLen {
		want = fixedFrame(from, q, seq)
	}
	if string(b) != string(want) {
		return fmt.Sprintf("frame (from %v, queue %d, seq %d): %d bytes differ from the %d sent", from, q, seq, len(b), len(want))
	}
	return ""
}

// runTap starts tap.Run and returns a function that stops it and returns
// Run's error.
func runTap(t *testing.T, tap *Tap) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- tap.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(10 * time.Second):
				err = fmt.Errorf("tap.Run did not return 10 s after its context ended")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// events collects a tap's event lines for the test log and for checks.
type events struct {
	t  *testing.T
	mu sync.Mutex
	l  []string
}

func (e *events) add(line string) {
	e.mu.Lock()
	e.l = append(e.l, line)
	e.mu.Unlock()
	e.t.Log("tap: " + line)
}

func (e *events) lines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.l...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sockPath(t *testing.T, name string) string {
	return filepath.Join(t.TempDir(), name)
}

// openPeer opens an application's Handle for a test.
func openPeer(t *testing.T, c memifpcap.Config) *memifpcap.Handle {
	t.Helper()
	if c.Role == memifpcap.RoleClient && c.ConnectWait == 0 {
		c.ConnectWait = 20 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 20 * time.Second
	}
	h, err := memifpcap.Open(&c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// ngRecord is one Enhanced Packet Block read back.
type ngRecord struct {
	iface, flags, queue uint32
	hasFlags, hasQueue  bool
	data                []byte
	length              int
}

// ngFile is a pcapng file read back, strictly.
type ngFile struct {
	ifaces []struct{ name, desc string }
	recs   []ngRecord
	stats  map[uint32]map[uint16]uint64 // ISB counters by interface and option
}

func readNG(t *testing.T, path string) *ngFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &ngFile{stats: map[uint32]map[uint16]uint64{}}
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			t.Fatalf("pcapng: %d stray bytes at %d", len(b)-off, off)
		}
		typ, total := le.Uint32(b[off:]), int(le.Uint32(b[off+4:]))
		if total < 12 || total%4 != 0 || off+total > len(b) || int(le.Uint32(b[off+total-4:])) != total {
			t.Fatalf("pcapng: bad block of type %#x, length %d at %d", typ, total, off)
		}
		body := b[off+8 : off+total-4]
		switch typ {
		case blockIDB:
			opts := ngOptions(t, body[8:])
			f.ifaces = append(f.ifaces, struct{ name, desc string }{string(opts[ifName]), string(opts[ifDesc])})
		case blockEPB:
			capLen := int(le.Uint32(body[12:]))
			r := ngRecord{iface: le.Uint32(body[0:]), length: int(le.Uint32(body[16:])), data: body[20 : 20+capLen]}
			opts := ngOptions(t, body[20+pad4(capLen):])
			if v, ok := opts[epbFlags]; ok {
				r.flags, r.hasFlags = le.Uint32(v), true
			}
			if v, ok := opts[epbQueue]; ok {
				r.queue, r.hasQueue = le.Uint32(v), true
			}
			f.recs = append(f.recs, r)
		case blockISB:
			m := map[uint16]uint64{}
			for code, v := range ngOptions(t, body[12:]) {
				if len(v) == 8 {
					m[code] = le.Uint64(v)
				}
			}
			f.stats[le.Uint32(body[0:])] = m
		}
		off += total
	}
	return f
}

func ngOptions(t *testing.T, b []byte) map[uint16][]byte {
	m := map[uint16][]byte{}
	for len(b) >= 4 {
		code, n := le.Uint16(b), int(le.Uint16(b[2:]))
		if code == optEnd {
			return m
		}
		if 4+pad4(n) > len(b) {
			t.Fatalf("pcapng: option %d of %d bytes runs past its block", code, n)
		}
		m[code] = b[4 : 4+n]
		b = b[4+pad4(n):]
	}
	return m
}

// linkEnded waits until h counts more disconnects than d0 (taken before
// whatever ends the link): the link that was up went down, even if the
// next one is up already. It returns why.
func linkEnded(t *testing.T, h *memifpcap.Handle, d0 uint64, d time.Duration) string {
	t.Helper()
	waitFor(t, "the link to go down", d, func() bool { return h.Stats().Disconnects > d0 })
	return h.DownReason()
}
