package memifpcap

import (
	"testing"
	"time"
)

// Each frame of a batch gets its own timestamp: the last the batch's clock
// reading, the others spread evenly back over the time since the previous
// read, at most maxStampSpacing apart; with BatchTimestamps all share it.
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
		st := rxState{stamped: t0}
		now := t0.Add(tc.since)
		ms := make([]Message, tc.k)
		st.finish(ms, 0, now, tc.same)
		for i, m := range ms {
			want := now.Add(-time.Duration(tc.k-1-i) * tc.step)
			if !m.CaptureInfo.Timestamp.Equal(want) {
				t.Errorf("%s from %v: frame %d stamped %v, want %v", tc.name, t0, i, m.CaptureInfo.Timestamp.Sub(t0), want.Sub(t0))
			}
		}
		if !st.stamped.Equal(now) {
			t.Errorf("%s: stamped = %v, want the batch's reading %v", tc.name, st.stamped.Sub(t0), tc.since)
		}
	}
}

// The spread keeps every stamp after the previous read's, and in order:
// consecutive batches never overlap.
func TestStampAfterPreviousRead(t *testing.T) {
	t.Parallel()
	st := rxState{stamped: time.Unix(1000, 0)}
	last := st.stamped // the previous frame's stamp
	for _, since := range []time.Duration{300, 64, 7, 1000} {
		read := st.stamped
		ms := make([]Message, 64)
		st.finish(ms, 0, read.Add(since), false)
		for i, m := range ms {
			ts := m.CaptureInfo.Timestamp
			if !ts.After(read) || ts.Before(last) || (since >= 64 && !ts.After(last)) {
				t.Fatalf("batch %v after the last read: frame %d stamped %v after it, the frame before %v",
					since, i, ts.Sub(read), last.Sub(read))
			}
			last = ts
		}
	}
}
