package memifpcap

import (
	"context"
	"runtime"
	"time"
)

// How a writer waits: for room in a full ring, for a FrameWriter to finish
// the frame it builds in the next slot, or (Drain, Close's linger) for the
// peer to take everything. memif never signals consumption, so every wait
// polls: it yields for up to txSpinFor (a peer that drains the ring at
// full rate, or a capture that paused for a file write, frees slots within
// microseconds), then sleeps, longer each time up to a cap, until its
// timeout or its context ends. The spin matters: a Go timer shorter than a
// millisecond takes about a millisecond when the thread has nothing else
// to do (the runtime's netpoller waits in milliseconds), and a ring of 1024
// slots fills in 30 µs at full rate. This is the only wait of the transmit
// side.
const (
	txSpinFor = 200 * time.Microsecond
	txSleep   = 20 * time.Microsecond
)

type txWait struct {
	ctx      context.Context
	timeout  time.Duration // from the first pause; 0 or negative: none
	maxSleep time.Duration

	start time.Time // the first pause
	dl    time.Time
	n     int
	sleep time.Duration
	spun  bool // the spin is over: sleep
	full  bool // TxRingFull already counted for this write
}

// newTxWait is the wait of one write: WriteTimeout, short sleeps.
func (q *TxQueue) newTxWait(ctx context.Context) txWait {
	return txWait{ctx: ctx, timeout: q.h.cfg.WriteTimeout, maxSleep: txSleep}
}

// pause waits before the next try. It returns ctx.Err() once ctx ended,
// ErrTimeout once the timeout passed, nil to try again.
func (w *txWait) pause() error {
	if w.n == 0 {
		w.start = time.Now()
		if w.timeout > 0 {
			w.dl = w.start.Add(w.timeout)
		}
		w.sleep = txSleep
	}
	w.n++
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if !w.spun {
		// The clock is read every 64 turns only: a turn costs about a
		// microsecond when nothing else is runnable.
		if w.n%64 != 0 {
			spin()
			return nil
		}
		now := time.Now()
		if now.Sub(w.start) < txSpinFor && (w.dl.IsZero() || now.Before(w.dl)) {
			spin()
			return nil
		}
		w.spun = true
	}
	if !w.dl.IsZero() && !time.Now().Before(w.dl) {
		return ErrTimeout
	}
	time.Sleep(w.sleep)
	w.sleep = min(2*w.sleep, w.maxSleep)
	return nil
}

// spin is one turn of a wait's spin: the other goroutines of this process
// get to run, and so do other threads on this CPU (the peer's, when there
// are more busy threads than CPUs: a spin that kept the CPU would delay
// the very peer it waits for).
func spin() {
	runtime.Gosched()
	yieldCPU()
}

// mustWait reports whether a write's attempt returned one of the errors
// that mean "wait and try again".
func mustWait(err error) bool { return err == errWaitRoom || err == errWaitOwner }

// waitTx pauses a write after an attempt that must wait (errWaitRoom,
// counted once per write in TxRingFull, or errWaitOwner). When the wait
// gives up (WriteTimeout, ctx) the frame counts in TxDropped and the
// error is returned.
func (q *TxQueue) waitTx(w *txWait, err error) error {
	if err == errWaitRoom && !w.full {
		w.full = true
		q.stats.txFull.Add(1)
	}
	if err := w.pause(); err != nil {
		return q.dropped(err)
	}
	return nil
}
