package ring

import (
	"errors"
	"testing"
)

// cut splits f at the given offsets, keeping empty pieces.
func cut(f []byte, at ...int) [][]byte {
	var out [][]byte
	prev := 0
	for _, a := range at {
		out = append(out, f[prev:a])
		prev = a
	}
	return append(out, f[prev:])
}

// WriteVector gathers the pieces of a frame, whatever their boundaries
// against the 2048-byte buffers (inside one, across one, empty pieces),
// into the same descriptors Write makes, in both directions.
func TestWriteVector(t *testing.T) {
	for _, dir := range []Direction{C2S, S2C} {
		t.Run(dir.String(), func(t *testing.T) {
			w := newWorld(t, 4, 2048)
			tx, rx := w.pair(dir, 2048)
			for i, tc := range []struct {
				size int
				at   []int
				segs int
			}{
				{64, []int{14}, 1},
				{64, []int{0, 0, 64}, 1},
				{2048, []int{1000, 2047}, 1},
				{2049, []int{2048}, 2},
				{9000, []int{14, 34, 42, 2048, 2050, 4096, 8999}, 5},
				{9000, nil, 5},
			} {
				f := frame(i, tc.size)
				if err := tx.WriteVector(cut(f, tc.at...)); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				tx.Publish()
				expect(t, rx, f, tc.segs)
				rx.Release()
			}
			if err := tx.WriteVector([][]byte{nil, {}}); !errors.Is(err, ErrEmptyFrame) {
				t.Errorf("WriteVector of empty pieces: %v, want ErrEmptyFrame", err)
			}
			if err := tx.WriteVector(nil); !errors.Is(err, ErrEmptyFrame) {
				t.Errorf("WriteVector(nil): %v, want ErrEmptyFrame", err)
			}
			big := make([]byte, 16*2048+1)
			if err := tx.WriteVector(cut(big, 100)); !errors.Is(err, ErrFrameTooLarge) {
				t.Errorf("WriteVector of a frame larger than the ring: %v, want ErrFrameTooLarge", err)
			}
			pieces := cut(frame(99, 3000), 1500)
			allocs := testing.AllocsPerRun(100, func() {
				if err := tx.WriteVector(pieces); err != nil {
					t.Fatal(err)
				}
				tx.Publish()
				var dst [4][]byte
				if _, n, err := rx.Next(dst[:0]); err != nil || n != 3000 {
					t.Fatalf("Next: %d, %v", n, err)
				}
				rx.Release()
			})
			if allocs != 0 {
				t.Errorf("WriteVector+Next: %v allocations, want 0", allocs)
			}
		})
	}
}
