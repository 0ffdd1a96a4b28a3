package ring

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

// inside reports whether seg lies entirely within one of the regions.
func inside(seg []byte, regions [][]byte) bool {
	s := uintptr(unsafe.Pointer(unsafe.SliceData(seg)))
	for _, r := range regions {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(r)))
		if s >= base && s+uintptr(len(seg)) <= base+uintptr(len(r)) {
			return true
		}
	}
	return false
}

// FuzzRx lets arbitrary bytes be the ring (header, descriptors, buffers)
// and a script of hostile peer moves rewrite descriptors and the producer's
// index between calls. Next, Burst and Release must never panic, and every
// segment they return must lie inside a region (for a client, inside region
// 0).
func FuzzRx(f *testing.F) {
	// Seed: a C2S ring holding real packets, one with a chain.
	w := newWorld(f, 2, 16)
	tx := w.clientTx()
	tx.Write(frame(0, 5))
	tx.Write(frame(1, 40))
	tx.Publish()
	f.Add(snapshot(w.mem), []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(1), true, uint32(0), uint32(0))
	f.Add(snapshot(w.mem), []byte{0, 3, 1, 0, 0, 0, 255, 255, 255, 255, 9, 0}, uint8(1), true, uint32(16), uint32(0))
	f.Add(snapshot(w.mem), []byte{1, 2, 0, 0, 20, 0, 0, 0, 0, 1, 0, 0}, uint8(1), false, uint32(16), uint32(384))
	f.Add([]byte{}, []byte{}, uint8(0), false, uint32(0), uint32(0))

	f.Fuzz(func(t *testing.T, mem, script []byte, log2 uint8, server bool, bufSize, bufBase uint32) {
		log2 = 1 + log2%4 // 2..16 slots: enough to wrap quickly
		block := make([]byte, max(len(mem), RingBytes(64, log2)))
		copy(block, mem)
		extra := make([]byte, 48)
		regions := [][]byte{block, extra}
		r, err := NewRing(block, 64, log2)
		if err != nil {
			t.Fatal(err)
		}
		peer, _ := NewRing(block, 64, log2)

		cfg := Config{Role: Server, Regions: regions, BufferSize: bufSize % 4096}
		if !server {
			cfg = Config{Role: Client, Regions: regions, BufferSize: 1 + bufSize%64, BufferBase: bufBase % uint32(len(block))}
		}
		rx, err := NewRx(r, cfg)
		if err != nil {
			return // a client layout that does not fit its region
		}
		if len(script) > 0 && script[0]&1 == 1 {
			rx.Reset()
		}
		var dst [4][]byte
		var frames [3]Frame
		packets := uint64(0)
		for step := 0; step < 64; step++ {
			if step%4 == 1 {
				// Burst, as ReadBatch uses it between calls of Next.
				k := rx.Burst(frames[:])
				for _, f := range frames[:k] {
					if !inside(f.Data, regions[:1+btoi(server)]) || cap(f.Data) != len(f.Data) {
						t.Fatalf("step %d: Burst returned %d bytes outside every region", step, len(f.Data))
					}
				}
				packets += uint64(k)
			}
			segs, n, err := rx.Next(dst[:0])
			var ce *CorruptError
			switch {
			case err == nil:
				packets++
				total := 0
				for _, s := range segs {
					if !inside(s, regions[:1+btoi(server)]) {
						t.Fatalf("step %d: segment of %d bytes outside every region", step, len(s))
					}
					total += len(s)
				}
				if total != n || len(segs) == 0 || len(segs) > 1<<log2 {
					t.Fatalf("step %d: n = %d, %d segments totalling %d", step, n, len(segs), total)
				}
			case errors.Is(err, ErrNoPacket), errors.As(err, &ce):
			default:
				t.Fatalf("step %d: unexpected error %v", step, err)
			}
			if step%3 == 2 {
				rx.Release()
			}
			// The peer's move: 12 bytes = desc index, flags, region,
			// length, offset, and (low bit of flags byte) whether to
			// also publish a new index equal to the desc index.
			if len(script) < 12 {
				continue
			}
			op := script[:12]
			script = script[12:]
			idx := binary.LittleEndian.Uint16(op[0:])
			peer.SetDesc(idx, Desc{
				Flags:  uint16(op[2]) & DescFlagNext,
				Region: uint16(op[3]),
				Length: binary.LittleEndian.Uint32(op[4:]),
				Offset: binary.LittleEndian.Uint32(op[8:]),
			})
			if op[2]&2 != 0 {
				if server {
					peer.StoreHead(idx)
				} else {
					peer.StoreTail(idx)
				}
			}
		}
		if got := rx.Stats().Packets; got != packets {
			t.Fatalf("Stats().Packets = %d, Next and Burst returned %d packets", got, packets)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
