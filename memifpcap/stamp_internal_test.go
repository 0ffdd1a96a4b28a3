package memifpcap

import (
	"testing"
	"time"
)

// Each frame of a look gets its own timestamp: the last the look's clock
// reading, the others spread evenly back over the time since the previous
// reading, at most maxStampSpacing apart; with BatchTimestamps all share it.
func TestStampSpreadsABatch(t *testing.T) {
	t.Parallel()
	// The second start is just before a second: the stamps cross it.
	for _, t0 := range []time.Time{time.Unix(1000, 0), time.Unix(999, 999_999_900)} {
		spread(t, t0)
	}
}

func spread(t *testing.T, t0 time.Time) {
	for _, tc := range []struct {
		name  string
		since time.Duration // from the previous read to this one
		k     int
		same  bool
		step  time.Duration
	}{
		{"busy: 4 frames in 200 ns", 200 * time.Nanosecond, 4, false, 50 * time.Nanosecond},
		{"after idle: capped", time.Second, 3, false, maxStampSpacing},
		{"one frame", time.Second, 1, false, 0},
		{"a clock that did not move", 0, 5, false, 0},
		{"BatchTimestamps", 200 * time.Nanosecond, 4, true, 0},
	} {
		var r stampRun
		now := t0.Add(tc.since)
		r.start(nil, 1, tc.k, now, t0, tc.same)
		for i := range tc.k {
			want := now.Add(-time.Duration(tc.k-1-i) * tc.step)
			if ts := r.stamp(tc.k - 1 - i); !ts.Equal(want) {
				t.Errorf("%s from %v: frame %d stamped %v, want %v", tc.name, t0, i, ts.Sub(t0), want.Sub(t0))
			}
		}
	}
}

// The spread keeps every stamp after the previous reading, and in order:
// consecutive looks never overlap.
func TestStampAfterPreviousRead(t *testing.T) {
	t.Parallel()
	read := time.Unix(1000, 0) // the previous reading
	last := read               // the previous frame's stamp
	for _, since := range []time.Duration{300, 64, 7, 1000} {
		var r stampRun
		r.start(nil, 1, 64, read.Add(since), read, false)
		for i := range 64 {
			ts := r.stamp(63 - i)
			if !ts.After(read) || ts.Before(last) || (since >= 64 && !ts.After(last)) {
				t.Fatalf("batch %v after the last read: frame %d stamped %v after it, the frame before %v",
					since, i, ts.Sub(read), last.Sub(read))
			}
			last = ts
		}
		read = read.Add(since)
	}
}
