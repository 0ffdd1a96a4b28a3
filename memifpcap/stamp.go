package memifpcap

import (
	"time"

	"github.com/memifpcap/memifpcap/ring"
)

// How a receive queue stamps its frames (see Message.CaptureInfo): the
// frames one load of the producer's index revealed (a look) share one
// clock reading, taken when the first of them is read, and are spread
// evenly back from it over the time since the previous reading, at most
// maxStampSpacing apart, the last of them getting the reading itself.
// Every read takes its stamps from here, whatever mix of batch and single
// reads a program makes, so a queue's stamps increase across them.

// maxStampSpacing is the most time put between the stamps of two frames of
// one look: after an idle spell, frames most likely arrived in a burst
// just before they were read, not spread over the whole idle time.
const maxStampSpacing = time.Microsecond

// stampRun is the look whose frames are being read: the Rx and its count of
// loads that identify it, the clock reading taken with its first frame (at,
// and its wall time in seconds and nanoseconds), and how far apart its
// frames are spread.
type stampRun struct {
	rx        *ring.Rx
	loads     uint64
	at        time.Time
	sec, nsec int64
	step      time.Duration
}

// look returns the run of the frame just taken from rx, starting a new one,
// with a clock reading, when rx loaded the producer's index since. Call it
// after each take that may have loaded (Next, not Burst), before reading
// rx.Pending for the stamp. With same (Config.BatchTimestamps), every frame
// of a look gets the reading.
func (st *rxState) look(rx *ring.Rx, same bool) *stampRun {
	r := &st.run
	if rx != r.rx || rx.Loads() != r.loads {
		now := st.now()
		r.start(rx, rx.Loads(), rx.Pending()+1, now, st.stamped, same)
		st.stamped = now
	}
	return r
}

// start begins the run of a look that revealed n frames (descriptors, to be
// exact), the first just taken, with the clock reading now; prev is the
// reading before.
func (r *stampRun) start(rx *ring.Rx, loads uint64, n int, now, prev time.Time, same bool) {
	r.rx, r.loads, r.at, r.step = rx, loads, now, 0
	r.sec, r.nsec = now.Unix(), int64(now.Nanosecond())
	if n > 1 && !same {
		r.step = min(now.Sub(prev)/time.Duration(n), maxStampSpacing)
	}
}

// stamp is the timestamp of the run's frame that left more (rx.Pending
// once it was taken) follow. It is computed in seconds and nanoseconds,
// with one borrow from the seconds when the nanoseconds go negative (one
// suffices: left*step is at most a ring's worth of microseconds), without
// a branch, so that it is inlined into ReadBatch's loop; time.Time.Add
// would cost a division.
func (r *stampRun) stamp(left int) time.Time {
	nsec := r.nsec - int64(left)*int64(r.step)
	borrow := nsec >> 63 // -1 when negative, else 0
	return time.Unix(r.sec+borrow, nsec+borrow&int64(time.Second))
}

// clockRefresh is how often a reader reads the wall clock; see rxState.now.
const clockRefresh = time.Second

// now is a reader's clock for timestamps: time.Now, read at most every
// clockRefresh, advanced by the monotonic clock in between. That is one
// clock read per frame instead of time.Now's two (wall and monotonic: 20 %
// of a ReadPacketData loop here); a step of the wall clock (NTP) shows in
// the timestamps within clockRefresh.
func (st *rxState) now() time.Time {
	if !st.clock.IsZero() {
		if d := time.Since(st.clock); d < clockRefresh {
			return st.clock.Add(d)
		}
	}
	st.clock = time.Now()
	return st.clock
}
