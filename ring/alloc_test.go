package ring

import (
	"errors"
	"testing"
)

// Write+Publish and Next+Release run per packet: none of them may allocate,
// including the "try again" answers and the skipping of a bad chain.
func TestHotPathsDoNotAllocate(t *testing.T) {
	for _, dir := range []Direction{C2S, S2C} {
		t.Run(dir.String(), func(t *testing.T) {
			w := newWorld(t, 4, 2048)
			var tx *Tx
			var rx *Rx
			var producer *Ring
			if dir == C2S {
				tx, rx = w.clientTx(), w.serverRx(2048)
				producer = w.cliC2S
			} else {
				rx = w.clientRx()
				rx.Reset()
				tx = w.serverTx(0)
				producer = w.srvS2C
			}
			small, jumbo := frame(0, 64), frame(1, 9000)
			var dst [8][]byte
			allocs := testing.AllocsPerRun(200, func() {
				if err := tx.Write(small); err != nil {
					t.Fatal(err)
				}
				if err := tx.Write(jumbo); err != nil {
					t.Fatal(err)
				}
				tx.Publish()
				if _, n, err := rx.Next(dst[:0]); err != nil || n != 64 {
					t.Fatalf("Next: %d, %v", n, err)
				}
				if segs, n, err := rx.Next(dst[:0]); err != nil || n != 9000 || len(segs) != 5 {
					t.Fatalf("Next: %d, %v", n, err)
				}
				if _, _, err := rx.Next(dst[:0]); err != ErrNoPacket {
					t.Fatalf("Next on an empty ring: %v", err)
				}
				rx.Release()
			})
			if allocs != 0 {
				t.Errorf("Write+Publish+Next+Release: %v allocations per run, want 0", allocs)
			}

			// A full ring.
			for tx.Write(small) == nil {
			}
			allocs = testing.AllocsPerRun(100, func() {
				if err := tx.Write(small); err != ErrRingFull {
					t.Fatalf("Write into a full ring: %v", err)
				}
			})
			if allocs != 0 {
				t.Errorf("Write into a full ring: %v allocations, want 0", allocs)
			}
			tx.Publish()
			for {
				if _, _, err := rx.Next(dst[:0]); errors.Is(err, ErrNoPacket) {
					break
				}
			}
			rx.Release()

			// A bad descriptor skipped before a good packet, every run.
			allocs = testing.AllocsPerRun(100, func() {
				tx.Write(small)
				tx.Write(small)
				tx.Publish()
				if dir == C2S {
					d := producer.Desc(tx.cursor - 2)
					d.Region = 9
					producer.SetDesc(tx.cursor-2, d)
				} else {
					producer.setFlagsLength(tx.cursor-2, 0, 4096)
				}
				if _, n, err := rx.Next(dst[:0]); err != nil || n != 64 {
					t.Fatalf("Next after a bad descriptor: %d, %v", n, err)
				}
				rx.Release()
			})
			if allocs != 0 {
				t.Errorf("skipping a bad descriptor: %v allocations, want 0", allocs)
			}
			if got := rx.Stats().BadPackets; got != 101 { // AllocsPerRun runs once more to warm up
				t.Errorf("BadPackets = %d, want 101", got)
			}
		})
	}
}

// Reserve+Commit+Publish, the zero-copy producer path, does not allocate
// either, in both directions.
func TestReserveCommitDoesNotAllocate(t *testing.T) {
	for _, dir := range []Direction{C2S, S2C} {
		t.Run(dir.String(), func(t *testing.T) {
			w := newWorld(t, 4, 2048)
			tx, rx := w.pair(dir, 2048)
			var dst [2][]byte
			allocs := testing.AllocsPerRun(200, func() {
				for i := 0; i < 4; i++ {
					b, err := tx.Reserve()
					if err != nil {
						t.Fatal(err)
					}
					b[100] = byte(i)
					if err := tx.Commit(100, 64); err != nil {
						t.Fatal(err)
					}
				}
				tx.Publish()
				for i := 0; i < 4; i++ {
					if segs, n, err := rx.Next(dst[:0]); err != nil || n != 64 || segs[0][0] != byte(i) {
						t.Fatalf("Next %d: %d, %v", i, n, err)
					}
				}
				rx.Release()
			})
			if allocs != 0 {
				t.Errorf("Reserve+Commit+Publish+Next+Release: %v allocations per run, want 0", allocs)
			}
		})
	}
}

// BenchmarkTxRx64 moves 64-byte frames through one ring, producer and
// consumer in the same goroutine, publishing and releasing every 32 frames
// as a burst-oriented caller would.
func BenchmarkTxRx64(b *testing.B) {
	for _, dir := range []Direction{C2S, S2C} {
		b.Run(dir.String(), func(b *testing.B) {
			w := newWorld(b, 10, 2048)
			tx, rx := w.pair(dir, 2048)
			f := frame(0, 64)
			var dst [1][]byte
			const burst = 32
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := tx.Write(f); err != nil {
					b.Fatal(err)
				}
				if i%burst == burst-1 || i == b.N-1 {
					tx.Publish()
					for {
						_, _, err := rx.Next(dst[:0])
						if err == ErrNoPacket {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					rx.Release()
				}
			}
		})
	}
}
