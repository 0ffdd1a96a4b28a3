package main

import (
	"context"
	"errors"
	"math"
	"runtime"
	"time"
)

// How the pacer waits. A Go timer fires tens of microseconds to a
// millisecond late, far coarser than the gap between packets at high rates
// (10 µs at 100 000 pps), so the pacer sleeps only when the next packet is
// more than spinAbove away, wakes spinMargin early, and yields the
// processor in a loop for the rest. Every packet has a due time on a fixed
// schedule from the start of the run, never "the last send plus a gap", so
// a late wakeup is paid back by sending the packets already due back to
// back (a burst) and the rate stays exact over time. burst is the depth of
// that bucket: after a stall longer than it (a full ring, a descheduled
// process), the schedule slides forward instead of catching up with an
// unbounded burst.
const (
	spinAbove    = 100 * time.Microsecond
	spinMargin   = 50 * time.Microsecond
	defaultBurst = 200 * time.Millisecond
)

// clock is the pacer's time source: monotonic, and faked in tests.
type clock interface {
	// now is the time since some fixed origin.
	now() time.Duration
	// sleep waits for d, or until done is closed (then it returns false).
	sleep(d time.Duration, done <-chan struct{}) bool
	// yield lets other goroutines run for a moment.
	yield()
}

// monoClock is the real clock: time.Since on a start time reads the
// monotonic clock, which wall-clock steps do not move.
type monoClock struct {
	start time.Time
	timer *time.Timer // reused: no allocation per sleep
}

func newMonoClock() *monoClock {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &monoClock{start: time.Now(), timer: t}
}

func (c *monoClock) now() time.Duration { return time.Since(c.start) }

func (c *monoClock) sleep(d time.Duration, done <-chan struct{}) bool {
	c.timer.Reset(d)
	select {
	case <-c.timer.C:
		return true
	case <-done:
		c.timer.Stop()
		return false
	}
}

func (c *monoClock) yield() { runtime.Gosched() }

// pacing is how packets are spaced, as tcpreplay's mutually exclusive
// options: the capture's own timing scaled by multiplier (1 = original),
// a fixed packet rate, a fixed bit rate, or no spacing at all.
type pacing struct {
	kind       pacingKind
	multiplier float64 // pacingOriginal: capture gaps are divided by it
	pps        float64 // pacingPPS
	mbps       float64 // pacingMbps: megabits (10^6) per second
}

type pacingKind int

const (
	pacingOriginal pacingKind = iota
	pacingPPS
	pacingMbps
	pacingTopSpeed
)

// errDurationOver says the next packet would go after the end of the run
// (-duration).
var errDurationOver = errors.New("duration over")

// pacer decides when each packet goes. Its schedule starts at the first
// packet: packet k of a -pps N run is due k/N seconds after it; with -mbps,
// a packet is due when the bits of those before it have gone at the rate
// (the bytes sent on the link, the captured length); with the capture's
// timing, due times follow the capture timestamps, divided by multiplier.
// Timing restarts (restart) at each file and each loop: the first packet
// of a file goes right after the previous packet, whatever its timestamp
// says, since files and loops are not on one timeline. A timestamp earlier
// than the previous one counts as a gap of 0. The rate modes do not
// restart: their rate holds across files and loops.
type pacer struct {
	clock    clock
	pace     pacing
	burst    time.Duration
	duration time.Duration // 0: no end

	started bool
	base    time.Duration // clock time the schedule counts from
	end     time.Duration // clock time the run ends, if duration > 0

	// Schedule position, since base.
	count uint64 // packets (pps; at top speed, to look at the clock every topSpeedLook)
	bytes uint64 // bytes (mbps)
	// Capture time elapsed (original), unscaled, in seconds and
	// nanoseconds: a time.Duration overflows after 292 years of capture
	// time, which a few gaps of 2^32-1 s (a pcap's whole range) reach.
	capSec  int64 // saturates at math.MaxInt64
	capNsec int64 // 0 to 1e9-1
	lastTS  time.Time
	fresh   bool // next packet starts a file or loop: its gap is 0
}

// topSpeedLook is how often -topspeed looks at the clock for -duration:
// every 64 packets, 2 µs at 30 Mpps, so the run ends at most that late,
// while a clock read (30-50 ns here) costs about a frame's send; every 16
// cost 7 % of memifinject's time.
const topSpeedLook = 64

func newPacer(c clock, pace pacing, duration time.Duration) *pacer {
	return &pacer{clock: c, pace: pace, burst: defaultBurst, duration: duration, fresh: true}
}

// restart starts a new file or loop.
func (p *pacer) restart() { p.fresh = true }

// start fixes the origin of the schedule: now, at the first packet.
func (p *pacer) start() {
	if p.started {
		return
	}
	p.started = true
	p.base = p.clock.now()
	if p.duration > 0 {
		p.end = p.base + p.duration
	}
}

// due is the clock time the next packet (captured at ts, size bytes) is
// due; it advances the schedule past it.
func (p *pacer) due(ts time.Time, size int) time.Duration {
	var at time.Duration
	switch p.pace.kind {
	case pacingPPS:
		at = nanoseconds(float64(p.count) * 1e9 / p.pace.pps)
		p.count++
	case pacingMbps:
		// bits / (mbps·10^6) seconds = bytes·8000/mbps nanoseconds
		at = nanoseconds(float64(p.bytes) * 8000 / p.pace.mbps)
		p.bytes += uint64(size)
	default:
		if !p.fresh && ts.After(p.lastTS) {
			p.addCapture(ts)
		}
		p.lastTS = ts
		at = p.captureOffset()
	}
	p.fresh = false
	return p.base + at
}

// addCapture adds the gap from lastTS to ts (later) to the capture time,
// saturating instead of wrapping.
func (p *pacer) addCapture(ts time.Time) {
	ds := ts.Unix() - p.lastTS.Unix()
	dn := int64(ts.Nanosecond()) - int64(p.lastTS.Nanosecond())
	if dn < 0 {
		dn += 1e9
		ds--
	}
	if ds < 0 { // the subtraction overflowed: an absurd gap
		ds = math.MaxInt64
	}
	p.capNsec += dn
	if p.capNsec >= 1e9 {
		p.capNsec -= 1e9
		ds = satAdd(ds, 1)
	}
	p.capSec = satAdd(p.capSec, ds)
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// captureOffset is the capture time elapsed, scaled by the multiplier, as
// a schedule offset (clamped as nanoseconds clamps it).
func (p *pacer) captureOffset() time.Duration {
	if p.pace.multiplier == 1 {
		if p.capSec >= (1<<62)/1_000_000_000 {
			return 1 << 62
		}
		return time.Duration(p.capSec*1e9 + p.capNsec)
	}
	return nanoseconds((float64(p.capSec)*1e9 + float64(p.capNsec)) / p.pace.multiplier)
}

// nanoseconds converts a schedule offset, clamped to 2^62 ns (146 years):
// far enough to never come, and base+at cannot overflow. (Converting a
// float beyond int64 is not defined, and -pps 1e-300 would get there.)
func nanoseconds(f float64) time.Duration {
	if !(f < 1<<62) {
		return 1 << 62
	}
	return time.Duration(f)
}

// wait returns when the next packet (captured at ts, size bytes) is due;
// errDurationOver if that is at or past the end of the run, or
// context.Canceled if done is closed first.
func (p *pacer) wait(ts time.Time, size int, done <-chan struct{}) error {
	return p.waitIdle(ts, size, done, nil)
}

// quick counts the next packet and reports true when it goes at once
// without a look at the clock: most packets at top speed. Otherwise the
// caller waits (wait, waitIdle). It is inlined, where waitIdle is a call.
func (p *pacer) quick() bool {
	if p.started && p.pace.kind == pacingTopSpeed && (p.end == 0 || p.count%topSpeedLook != 0) {
		p.count++
		return true
	}
	return false
}

// topSpeedBatch is waitIdle for a batch of a -topspeed run, all due at
// once (memBatches): errDurationOver when -duration is over, from one
// look at the clock.
func (p *pacer) topSpeedBatch() error {
	p.start()
	if p.end > 0 && p.clock.now() >= p.end {
		return errDurationOver
	}
	return nil
}

// waitIdle is wait that first calls idle (when not nil), once, if the
// packet is not due yet: the replay sends the frames it gathered, all due
// already, before it sleeps. An error from idle is returned as it is.
func (p *pacer) waitIdle(ts time.Time, size int, done <-chan struct{}, idle func() error) error {
	p.start()
	if p.pace.kind == pacingTopSpeed {
		// The clock is read every topSpeedLook packets: the run then
		// ends at most that many packets late.
		if p.end > 0 && p.count%topSpeedLook == 0 && p.clock.now() >= p.end {
			return errDurationOver
		}
		p.count++
		return nil
	}
	due := p.due(ts, size)
	for {
		now := p.clock.now()
		if p.end > 0 && max(now, due) >= p.end {
			return errDurationOver
		}
		ahead := due - now
		if ahead <= 0 {
			if late := -ahead; late > p.burst {
				// Forget the lag beyond the bucket's depth.
				p.base += late - p.burst
			}
			return nil
		}
		if idle != nil {
			if err := idle(); err != nil {
				return err
			}
			idle = nil
			continue // sending took time: look at the clock again
		}
		if ahead > spinAbove {
			if !p.clock.sleep(ahead-spinMargin, done) {
				return context.Canceled
			}
			continue
		}
		select {
		case <-done:
			return context.Canceled
		default:
		}
		p.clock.yield()
	}
}
