package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is time that moves only when the pacer sleeps or yields (by
// exactly what it asked for, and 1 µs per yield), or when a test says so.
type fakeClock struct {
	t      time.Duration
	sleeps []time.Duration
	yields int
}

func (c *fakeClock) now() time.Duration { return c.t }

func (c *fakeClock) sleep(d time.Duration, done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	default:
	}
	c.sleeps = append(c.sleeps, d)
	c.t += d
	return true
}

func (c *fakeClock) yield() { c.yields++; c.t += time.Microsecond }

// pkt is a packet as the pacer sees it: a capture timestamp and a size.
type pkt struct {
	ts   time.Time
	size int
}

var epoch = time.Date(2024, 7, 14, 12, 0, 0, 0, time.UTC)

// at makes packets captured at the given offsets from epoch, 100 bytes each.
func at(offsets ...time.Duration) []pkt {
	ps := make([]pkt, len(offsets))
	for i, o := range offsets {
		ps[i] = pkt{ts: epoch.Add(o), size: 100}
	}
	return ps
}

// sendTimes runs packets through p and returns the clock time at which
// each was released.
func sendTimes(t *testing.T, p *pacer, c *fakeClock, ps []pkt) []time.Duration {
	t.Helper()
	var got []time.Duration
	for _, q := range ps {
		require.NoError(t, p.wait(q.ts, q.size, nil))
		got = append(got, c.now())
	}
	return got
}

func ms(v ...float64) []time.Duration {
	d := make([]time.Duration, len(v))
	for i, x := range v {
		d[i] = time.Duration(x * float64(time.Millisecond))
	}
	return d
}

func TestPacerPPSSendsPacketKAtKOverN(t *testing.T) {
	c := &fakeClock{t: 7 * time.Second} // the schedule starts at the first packet, not at 0
	p := newPacer(c, pacing{kind: pacingPPS, pps: 1000}, 0)
	got := sendTimes(t, p, c, at(make([]time.Duration, 10)...))
	want := ms(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	for i := range want {
		want[i] += 7 * time.Second
	}
	require.Equal(t, want, got)
	// One sleep per gap, waking 50 µs early, then 50 one-microsecond yields.
	require.Len(t, c.sleeps, 9)
	for _, s := range c.sleeps {
		require.Equal(t, time.Millisecond-spinMargin, s)
	}
	require.Equal(t, 9*50, c.yields)
}

func TestPacerHighRateSpinsInsteadOfSleeping(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingPPS, pps: 100_000}, 0) // 10 µs apart
	got := sendTimes(t, p, c, at(make([]time.Duration, 5)...))
	require.Equal(t, []time.Duration{0, 10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Microsecond, 40 * time.Microsecond}, got)
	require.Empty(t, c.sleeps, "gaps under 100 µs must not sleep")
	require.Equal(t, 40, c.yields)
}

func TestPacerOriginalTimingFollowsTimestamps(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingOriginal, multiplier: 1}, 0)
	// The first gap is 0 however far the capture is from now; a timestamp
	// going backwards counts as no gap.
	ps := at(0, 10*time.Millisecond, 30*time.Millisecond, 25*time.Millisecond, 1030*time.Millisecond)
	require.Equal(t, ms(0, 10, 30, 30, 1035), sendTimes(t, p, c, ps))
}

func TestPacerMultiplierHalvesGaps(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingOriginal, multiplier: 2}, 0)
	ps := at(0, 10*time.Millisecond, 30*time.Millisecond, 30*time.Millisecond, 35*time.Millisecond)
	require.Equal(t, ms(0, 5, 15, 15, 17.5), sendTimes(t, p, c, ps))

	c = &fakeClock{}
	p = newPacer(c, pacing{kind: pacingOriginal, multiplier: 0.5}, 0)
	require.Equal(t, ms(0, 20, 60, 60, 70), sendTimes(t, p, c, ps))
}

func TestPacerMbpsUsesFrameBytes(t *testing.T) {
	c := &fakeClock{}
	// 8 Mbps is one byte per microsecond: each packet waits for the bytes
	// before it.
	p := newPacer(c, pacing{kind: pacingMbps, mbps: 8}, 0)
	ps := []pkt{{epoch, 100}, {epoch, 500}, {epoch, 1000}, {epoch, 9014}, {epoch, 60}}
	want := []time.Duration{0, 100 * time.Microsecond, 600 * time.Microsecond, 1600 * time.Microsecond, 10614 * time.Microsecond}
	require.Equal(t, want, sendTimes(t, p, c, ps))

	// 1 Gbps: a 1250-byte frame takes 10 µs.
	c = &fakeClock{}
	p = newPacer(c, pacing{kind: pacingMbps, mbps: 1000}, 0)
	ps = []pkt{{epoch, 1250}, {epoch, 1250}, {epoch, 1250}}
	require.Equal(t, []time.Duration{0, 10 * time.Microsecond, 20 * time.Microsecond}, sendTimes(t, p, c, ps))
}

func TestPacerLoopsAndFilesRestartOriginalTiming(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingOriginal, multiplier: 1}, 0)
	file := at(0, 10*time.Millisecond, 30*time.Millisecond)
	var got []time.Duration
	for range 2 { // -loop 2
		p.restart()
		got = append(got, sendTimes(t, p, c, file)...)
	}
	// A second file captured a day later starts right away too.
	p.restart()
	got = append(got, sendTimes(t, p, c, at(24*time.Hour, 24*time.Hour+time.Millisecond))...)
	require.Equal(t, ms(0, 10, 30, 30, 40, 60, 60, 61), got)
}

func TestPacerRatesHoldAcrossRestarts(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingPPS, pps: 1000}, 0)
	var got []time.Duration
	for range 3 {
		p.restart()
		got = append(got, sendTimes(t, p, c, at(0, time.Hour))...)
	}
	require.Equal(t, ms(0, 1, 2, 3, 4, 5), got)
}

func TestPacerCatchesUpInABurst(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingPPS, pps: 1000}, 0)
	got := sendTimes(t, p, c, at(0, 0, 0))
	c.t += 5 * time.Millisecond // the sender stalls at 2 ms until 7 ms
	yields := c.yields
	got = append(got, sendTimes(t, p, c, at(0, 0, 0, 0, 0, 0))...)
	// Packets 3..7 were due by 7 ms: sent at once, back to back; 8 is on time.
	require.Equal(t, ms(0, 1, 2, 7, 7, 7, 7, 7, 8), got)
	require.Equal(t, yields+50, c.yields)
}

func TestPacerBurstIsBounded(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingPPS, pps: 1000}, 0)
	p.burst = 3 * time.Millisecond
	got := sendTimes(t, p, c, at(0, 0, 0))
	c.t += 10 * time.Millisecond // stall from 2 ms to 12 ms
	got = append(got, sendTimes(t, p, c, at(0, 0, 0, 0, 0, 0))...)
	// Packet 3 (due at 3 ms) is 9 ms late: the schedule slides by 6 ms so
	// that only 3 ms are caught up: 3..6 at once, then 1 ms apart again.
	require.Equal(t, ms(0, 1, 2, 12, 12, 12, 12, 13, 14), got)
}

func TestPacerDurationEndsTheRun(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingPPS, pps: 1000}, 5*time.Millisecond)
	got := sendTimes(t, p, c, at(0, 0, 0, 0, 0))
	require.Equal(t, ms(0, 1, 2, 3, 4), got)
	// Packet 5 is due at 5 ms, the end: refused without waiting for it.
	require.Equal(t, errDurationOver, p.wait(epoch, 100, nil))
	require.Equal(t, 4*time.Millisecond, c.now())

	// At top speed the clock is read every topSpeedLook packets: the run
	// ends at the first look at or after the end.
	c = &fakeClock{}
	p = newPacer(c, pacing{kind: pacingTopSpeed}, 5*time.Millisecond)
	sent := 0
	for p.wait(epoch, 100, nil) == nil {
		sent++
		c.t += time.Millisecond / 4 // a send takes 250 µs
		require.Less(t, sent, 100*topSpeedLook, "the run does not end")
	}
	// 20 packets reach the end (5 ms); the run ends at the first look
	// after it.
	firstLook := (20 + topSpeedLook - 1) / topSpeedLook * topSpeedLook
	require.Equal(t, firstLook, sent)

	// The replay asks quick first and waits only when it says no: the
	// same packets go, and the clock is read only at the looks.
	c = &fakeClock{}
	p = newPacer(c, pacing{kind: pacingTopSpeed}, 5*time.Millisecond)
	sent, slow := 0, 0
	for {
		if !p.quick() {
			slow++
			if p.wait(epoch, 100, nil) != nil {
				break
			}
		}
		sent++
		c.t += time.Millisecond / 4
		require.Less(t, sent, 100*topSpeedLook, "the run does not end")
	}
	require.Equal(t, firstLook, sent)
	require.Equal(t, 1+firstLook/topSpeedLook, slow, "the first packet and the looks, every %d packets", topSpeedLook)
}

func TestPacerTopSpeedNeverWaits(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingTopSpeed}, 0)
	got := sendTimes(t, p, c, at(0, time.Hour, 2*time.Hour))
	require.Equal(t, []time.Duration{0, 0, 0}, got)
	require.Empty(t, c.sleeps)
	require.Zero(t, c.yields)
}

func TestPacerStopsWhenDone(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingPPS, pps: 1}, 0)
	done := make(chan struct{})
	require.NoError(t, p.wait(epoch, 100, done))
	close(done)
	require.Equal(t, context.Canceled, p.wait(epoch, 100, done)) // in the sleep
	p = newPacer(c, pacing{kind: pacingPPS, pps: 100_000}, 0)
	require.NoError(t, p.wait(epoch, 100, nil))
	require.Equal(t, context.Canceled, p.wait(epoch, 100, done)) // in the spin
}

// TestPacerRealClock checks the sleep-and-spin strategy on the real clock:
// 5000 packets at 50 000 pps (20 µs apart, far below a timer's resolution)
// take 0.1 s: never less (no packet goes early), and not much more (a
// late wakeup is caught up; the bound leaves room for a busy machine).
func TestPacerRealClock(t *testing.T) {
	c := newMonoClock()
	p := newPacer(c, pacing{kind: pacingPPS, pps: 50_000}, 0)
	start := c.now()
	for i := range 5000 {
		require.NoError(t, p.wait(epoch, 100, nil))
		require.GreaterOrEqual(t, c.now()-start, time.Duration(i)*20*time.Microsecond, "packet %d went early", i)
	}
	// 100 ms of schedule; a pacer that slept per packet (≥ 1 ms each
	// on Linux timers) would take 5 s. Generous: CI shares 2 cores.
	took := c.now() - start
	require.Less(t, took, 2*time.Second)
}

func TestPacerDoesNotAllocate(t *testing.T) {
	c := newMonoClock()
	p := newPacer(c, pacing{kind: pacingPPS, pps: 200_000}, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := p.wait(epoch, 100, nil); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
	p = newPacer(c, pacing{kind: pacingPPS, pps: 2000}, 0) // sleeps
	allocs = testing.AllocsPerRun(20, func() {
		if err := p.wait(epoch, 100, nil); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func TestPacerFarFutureDoesNotWrap(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingPPS, pps: 1e-300}, time.Second)
	require.NoError(t, p.wait(epoch, 100, nil))
	// The second packet is due in 10^309 s, past any -duration: not now.
	require.Equal(t, errDurationOver, p.wait(epoch, 100, nil))
	require.Zero(t, c.now())
}

// The replay sends its gathered frames (idle) only when the next packet is
// not due yet, once, and the pacer then waits only for what is left.
func TestPacerIdleBeforeWaiting(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingPPS, pps: 1000}, 10*time.Millisecond)
	idles := 0
	idle := func(d time.Duration) func() error {
		return func() error { idles++; c.t += d; return nil }
	}
	// Packet 0 is due at once: no idle.
	require.NoError(t, p.waitIdle(epoch, 100, nil, idle(0)))
	require.Equal(t, 0, idles)
	// Packet 1, due at 1 ms: idle once (300 µs), then the pacer waits
	// the rest, and releases it on time.
	require.NoError(t, p.waitIdle(epoch, 100, nil, idle(300*time.Microsecond)))
	require.Equal(t, 1, idles)
	require.Equal(t, time.Millisecond, c.now())
	// Packet 2, due at 2 ms: idle takes 1.5 ms, past the due time, so the
	// packet goes at once after it.
	require.NoError(t, p.waitIdle(epoch, 100, nil, idle(1500*time.Microsecond)))
	require.Equal(t, 2, idles)
	require.Equal(t, 2500*time.Microsecond, c.now())
	// Packet 3, due at 3 ms: an idle error comes back as it is.
	errSend := errors.New("send failed")
	require.Equal(t, errSend, p.waitIdle(epoch, 100, nil, func() error { return errSend }))
	require.Equal(t, 2500*time.Microsecond, c.now())
	// Past the end of the run: errDurationOver, without idle (the replay
	// sends what it gathered when it stops).
	c.t = 20 * time.Millisecond
	require.Equal(t, errDurationOver, p.waitIdle(epoch, 100, nil, idle(0)))
	require.Equal(t, 2, idles)
}

// Issue 10: capture timestamps 0, 2^32-1, 0, 2^32-1, ... add up to more
// than a time.Duration holds (292 years) by the third gap; with
// -multiplier 1e9 each gap of 2^32-1 s is 4.294967295 s. The schedule must
// hold every gap, none skipped by an overflow.
func TestPacerHugeCaptureTimeDoesNotOverflow(t *testing.T) {
	c := &fakeClock{}
	p := newPacer(c, pacing{kind: pacingOriginal, multiplier: 1e9}, 0)
	var ps []pkt
	for i := range 7 {
		sec := int64(0)
		if i%2 == 1 {
			sec = 1<<32 - 1
		}
		ps = append(ps, pkt{ts: time.Unix(sec, 0), size: 100})
	}
	gap := time.Duration(1<<32-1) * time.Nanosecond // (2^32-1) s / 1e9
	want := []time.Duration{0, gap, gap, 2 * gap, 2 * gap, 3 * gap, 3 * gap}
	require.Equal(t, want, sendTimes(t, p, c, ps))

	// Unscaled, the schedule saturates far in the future rather than
	// wrapping to the past: the fourth gap is not due before the third.
	c = &fakeClock{}
	p = newPacer(c, pacing{kind: pacingOriginal, multiplier: 1}, 0)
	var dues []time.Duration
	p.start()
	for _, q := range ps {
		dues = append(dues, p.due(q.ts, q.size))
	}
	for i := 1; i < len(dues); i++ {
		require.GreaterOrEqual(t, dues[i], dues[i-1], "packet %d is due before packet %d", i+1, i)
	}
	require.Equal(t, time.Duration(1<<62), dues[len(dues)-1])
}
