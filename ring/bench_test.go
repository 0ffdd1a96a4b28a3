package ring

import "testing"

// The ring alone on plain memory, one goroutine playing both sides: what
// one frame costs the producer (Write) and the consumer (Next) with
// everything else (processes, caches shared between CPUs) taken away. A
// batch is Write×batch, Publish, Next×batch, Release, as memifperf -batch
// does on each side; ns/op is per frame, both sides together.
func BenchmarkRing(b *testing.B) {
	for _, dir := range []Direction{C2S, S2C} {
		for _, size := range []int{64, 1500} {
			b.Run(dir.String()+"/"+itoa(size), func(b *testing.B) { benchRing(b, dir, size, 256) })
		}
	}
}

func itoa(n int) string {
	if n == 64 {
		return "64B"
	}
	return "1500B"
}

func benchRing(b *testing.B, dir Direction, size, batch int) {
	w := newWorld(b, 10, 2048)
	tx, rx := w.pair(dir, 2048)
	f := frame(0, size)
	var dst [8][]byte
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(batch, b.N-done)
		for range k {
			if err := tx.Write(f); err != nil {
				b.Fatal(err)
			}
		}
		tx.Publish()
		for range k {
			if _, _, err := rx.Next(dst[:0]); err != nil {
				b.Fatal(err)
			}
		}
		rx.Release()
		done += k
	}
}

// BenchmarkRingBurst is BenchmarkRing for the burst calls memifpcap's
// batches use: WriteBurst of 256 frames, Publish, Burst, Release. ns/op is
// per 64-byte frame, both sides together; the instructions alone, with
// no other CPU taking the cache lines away.
func BenchmarkRingBurst(b *testing.B) {
	for _, dir := range []Direction{C2S, S2C} {
		b.Run(dir.String(), func(b *testing.B) {
			w := newWorld(b, 10, 2048)
			tx, rx := w.pair(dir, 2048)
			f := frame(0, 64)
			in := make([][]byte, 256)
			for i := range in {
				in[i] = f
			}
			out := make([]Frame, 256)
			var seg [1][]byte
			b.SetBytes(64)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := tx.WriteBurst(in[:min(len(in), b.N-done)])
				tx.Publish()
				// Burst takes what the index, as last loaded, covers:
				// Next loads it (and takes the first frame).
				if _, n, err := rx.Next(seg[:0]); err != nil || n != 64 {
					b.Fatalf("Next: %d bytes, %v", n, err)
				}
				if got := rx.Burst(out[:k-1]); got != k-1 {
					b.Fatalf("Burst took %d of %d", got, k-1)
				}
				rx.Release()
				done += k
			}
		})
	}
}
