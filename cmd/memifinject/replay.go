package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memifpcap/memifpcap/internal/atomicx"
	"github.com/memifpcap/memifpcap/internal/memifflag"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// connect opens the memif interface and waits, for -wait, for its link
// to come up: a client retries while the server is not there yet (no
// socket, or "ID not found" from a server whose port is still starting),
// a server waits for its client, as every tool does (memifflag.Open).
// Refusals, and that it waits, are told on stderr.
func connect(ctx context.Context, cfg *memifpcap.Config, wait time.Duration, stderr io.Writer) (*memifpcap.Handle, error) {
	say := func(line string) { fmt.Fprintf(stderr, "memifinject: %s\n", line) }
	h, err := memifflag.Open(ctx, cfg, say)
	if err != nil {
		return nil, err
	}
	if err := memifflag.WaitLink(ctx, h, cfg, wait); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// replay sends the inputs' packets through a Handle.
type replay struct {
	h     *memifpcap.Handle
	in    *inputs
	o     *options
	clock *monoClock
	pacer *pacer
	dev   string

	// Counters: written by the sending goroutine only, read by -stats.
	sent, bytes, failed, truncated atomic.Uint64
	skipped                        atomic.Uint64 // -strip-l2: not IP
	filtered                       atomic.Uint64 // left out by -include, -exclude, -direction
	startNS, lastNS                atomic.Int64  // clock times of the start and the latest send
	started                        atomic.Bool
	ringFullBase                   uint64
	batch                          *batch // the due frames not sent yet

	// ctx ends the run (a signal) and every wait of a write; stderr is
	// where link changes are told.
	ctx    context.Context
	stderr io.Writer
}

// newReplay prepares the replay of in into h. ctx is its one cancellation:
// it ends the run (a signal), every wait of a write and of the pacer, and
// the drain's wait for the link; stderr is where link changes are told.
func newReplay(ctx context.Context, h *memifpcap.Handle, in *inputs, o *options, stderr io.Writer) *replay {
	c := newMonoClock()
	return &replay{
		h:            h,
		in:           in,
		o:            o,
		clock:        c,
		pacer:        newPacer(c, o.pace, o.duration),
		dev:          device(o),
		ringFullBase: h.Stats().TxRingFull,
		ctx:          ctx,
		stderr:       stderr,
	}
}

// errStop ends a replay early without an error: -limit, -duration or a
// signal.
var errStop = errors.New("stop")

// run replays every file, -loop times. It returns nil when done or
// stopped, or the error that ended it.
func (r *replay) run() error {
	for loop := 0; r.o.loops == 0 || loop < r.o.loops; loop++ {
		before := r.sent.Load()
		for i := range r.in.files {
			err := r.file(i)
			if err == errStop {
				return nil
			}
			if err != nil {
				return err
			}
		}
		if r.sent.Load() == before {
			break // nothing to send: an endless loop would spin
		}
	}
	return nil
}

// batchSize is how many due frames one WriteBatch sends at most: the
// mutex, the session checks, the publication of the ring index and the
// counters are paid once per batch instead of once per frame, most of the
// cost of a 64-byte frame (docs/PERFORMANCE.md, case 5); 256, as
// memifperf -batch and libmemif's bursts in the issue 12 comparison.
const batchSize = 256

// pending is a frame gathered for the next batch.
type pending struct {
	data  []byte // the frame, when it stays valid (a preloaded file)
	off   int    // else the frame is batch.arena[off:off+size]
	size  int
	num   int    // its record number, for errors and resume
	trunc bool   // captured shorter than it was on the wire
	flow  uint32 // the hash of its flow, which picks its transmit queue
}

// batch is the frames that are due and not sent yet, all of one file.
type batch struct {
	frames []pending
	// arena holds copies of frames read from disk, whose bytes the
	// reader reuses at the next record.
	arena []byte
	ms    []memifpcap.Message
}

func newBatch() *batch {
	b := &batch{frames: make([]pending, 0, batchSize), ms: make([]memifpcap.Message, batchSize)}
	views := make([][]byte, batchSize)
	for i := range b.ms {
		b.ms[i].Buffers = views[i : i+1 : i+1]
	}
	return b
}

// file sends one pass over file i. Frames that are due go out in batches
// of up to batchSize (all of them with -topspeed); the batch is sent
// before the pacer sleeps, at the end of the file and when the replay
// stops, so a frame never waits for a later one.
func (r *replay) file(i int) error {
	done := r.ctx.Done()
	f := r.in.files[i]
	src, err := r.in.open(i)
	if err != nil {
		return r.partWay(err)
	}
	defer src.close()
	if r.batch == nil {
		r.batch = newBatch()
	}
	b := r.batch
	mem, inMem := src.(*memSource)
	filters := r.o.sel.filters()
	flush := func() error { return r.flush(f) }
	// A pipe's gathered frames go out before its read waits for the
	// writer, not when the batch fills: a live capture piped in is sent
	// as it comes.
	var idleErr error
	if fs, ok := src.(*fileSource); ok && fs.stream != nil {
		fs.stream.idle = func() error {
			idleErr = flush()
			return idleErr
		}
		defer func() { fs.stream.idle = nil }()
	}
	r.pacer.restart()
	if inMem && r.wholeBatches() {
		return r.memBatches(mem, flush)
	}
	var p packet
	for look := uint(0); ; look++ {
		if r.o.limit > 0 && r.sent.Load()+uint64(len(b.frames)) >= r.o.limit {
			return stopAfter(flush())
		}
		// A signal is looked for every 16 packets (a microsecond at top
		// speed), and by every wait of the pacer and of a write.
		if look%16 == 0 {
			select {
			case <-done:
				return stopAfter(flush())
			default:
			}
		}
		var err error
		if inMem {
			err = mem.next(&p) // inlined, where src.next is a call
		} else {
			err = src.next(&p)
		}
		if err != nil {
			if idleErr != nil {
				return idleErr // the send before the read waited failed
			}
			if ferr := flush(); ferr != nil {
				return ferr
			}
			if err == io.EOF {
				return nil
			}
			return r.partWay(err)
		}
		if filters {
			switch keep, err := r.o.sel.keep(&p); {
			case err != nil:
				if ferr := flush(); ferr != nil {
					return ferr
				}
				return r.partWay(&inputError{file: f.name, packet: p.num, msg: err.Error()})
			case !keep:
				atomicx.Bump(&r.filtered, 1)
				continue
			}
		}
		r.markStarted()
		if !r.pacer.quick() {
			switch err := r.pacer.waitIdle(p.ts, len(p.data), done, flush); err {
			case nil:
			case errDurationOver, context.Canceled:
				return stopAfter(flush())
			default:
				return err
			}
		}
		data := p.data
		ether := p.linkType == linkTypeEthernet
		if ether && r.o.stripL2 {
			ether = false
			ip, ok := stripL2(data)
			if !ok {
				atomicx.Bump(&r.skipped, 1)
				continue
			}
			data = ip
		}
		// Filled in place, field by field (see memSource.next).
		b.frames = b.frames[:len(b.frames)+1]
		fr := &b.frames[len(b.frames)-1]
		fr.data, fr.off, fr.size, fr.num = nil, 0, len(data), p.num
		fr.trunc, fr.flow = len(p.data) < p.length, 0
		switch {
		case r.o.sel.byCapture:
			q, bad := r.o.sel.queue(&p)
			if bad != "" {
				b.frames = b.frames[:len(b.frames)-1] // not this one
				if ferr := flush(); ferr != nil {
					return ferr
				}
				return r.partWay(&inputError{file: f.name, packet: p.num, msg: bad})
			}
			fr.flow = uint32(q) // < TxQueues: flush's modulo keeps it
		case r.o.cfg.TxQueues > 1: // one queue needs no flow to choose it
			fr.flow = flowHash(data, ether)
		}
		if inMem {
			fr.data = data
		} else {
			fr.off = len(b.arena)
			b.arena = append(b.arena, data...)
		}
		if len(b.frames) == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// wholeBatches reports whether a preloaded file can be sent a batch at a
// time (memBatches): at top speed, nothing decided frame by frame (no
// -include, -exclude or -direction, no -strip-l2, one queue or no flow
// to choose one).
func (r *replay) wholeBatches() bool {
	return r.pacer.pace.kind == pacingTopSpeed && !r.o.sel.filters() && !r.o.stripL2 &&
		!r.o.sel.byCapture && r.o.cfg.TxQueues <= 1
}

// memBatches is file's loop for a preloaded file when wholeBatches holds:
// every frame is due at once and goes as it is, so the batch is filled
// straight from the preloaded records, and -limit, signals and -duration
// are looked at once a batch (at most batchSize frames late: 10 µs at top
// speed), not once a frame. It ends as file does.
func (r *replay) memBatches(mem *memSource, flush func() error) error {
	done := r.ctx.Done()
	b := r.batch
	for {
		room := batchSize - len(b.frames)
		if r.o.limit > 0 {
			left := r.o.limit - min(r.o.limit, r.sent.Load()+uint64(len(b.frames)))
			if left == 0 {
				return stopAfter(flush())
			}
			room = int(min(uint64(room), left))
		}
		select {
		case <-done:
			return stopAfter(flush())
		default:
		}
		r.markStarted()
		if r.pacer.topSpeedBatch() != nil {
			return stopAfter(flush())
		}
		if mem.take(b, room) == 0 {
			return flush() // the end of the file
		}
		if len(b.frames) == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// markStarted notes when the first packet goes: the summary's seconds
// count from it. It inlines (a load per packet once started); start does
// the rest once.
func (r *replay) markStarted() {
	if !r.started.Load() {
		r.start()
	}
}

func (r *replay) start() {
	r.startNS.Store(int64(r.clock.now()))
	r.started.Store(true)
}

// stopAfter is errStop, unless sending what was due failed.
func stopAfter(err error) error {
	if err != nil {
		return err
	}
	return errStop
}

// partWay reports bad input met while sending (-no-verify, or a file
// changed since it was checked): the replay stops there.
func (r *replay) partWay(err error) error {
	return fmt.Errorf("%w; stopped after sending %d packets", err, r.sent.Load())
}

// flush sends the gathered frames of file f, each on its flow's transmit
// queue: a run of consecutive frames of one queue goes in one WriteBatch,
// so that the frames before a failure are exactly those sent, as with a
// single queue (frames of different queues, interleaved, make shorter
// batches). memifpcap copies them into
// the ring, so their buffers are free again on return. WriteBatch sends
// what fits and says how many: the rest is sent again, and when the ring
// is full before the first frame, WriteBatch waits, up to -write-timeout
// or a signal, as a single write does. Every frame is counted as it would
// be one by one: those before a failure are sent, the one that fails is
// failed; one whose wait a signal ended is not sent, and the replay stops
// (errStop).
func (r *replay) flush(f *inputFile) error {
	b := r.batch
	frames := b.frames
	defer func() {
		b.frames = b.frames[:0]
		b.arena = b.arena[:0]
	}()
	for len(frames) > 0 {
		// Over the queues the link carries: a server whose client
		// offered fewer rings than -tx-queues uses those.
		_, nq := r.h.ConnectedQueues()
		if nq == 0 {
			nq = 1 // the link is down: the write below says so
		}
		q, run := 0, len(frames) // one queue: every frame goes on it
		if nq > 1 {
			q, run = int(frames[0].flow%uint32(nq)), 1
			for run < len(frames) && int(frames[run].flow%uint32(nq)) == q {
				run++
			}
		}
		ms := b.ms[:run]
		for i := range frames[:run] {
			fr := &frames[i]
			if fr.data != nil {
				ms[i].Buffers[0] = fr.data
			} else {
				ms[i].Buffers[0] = b.arena[fr.off : fr.off+fr.size]
			}
		}
		n, err := r.h.TxQueue(q).WriteBatchContext(r.ctx, ms)
		if n > 0 {
			now := int64(r.clock.now())
			var bytes, trunc uint64
			for i := range frames[:n] {
				bytes += uint64(frames[i].size)
				if frames[i].trunc {
					trunc++
				}
			}
			atomicx.Bump(&r.sent, uint64(n))
			atomicx.Bump(&r.bytes, bytes)
			if trunc > 0 {
				atomicx.Bump(&r.truncated, trunc)
			}
			r.lastNS.Store(now)
			frames = frames[n:]
		}
		if err == nil {
			continue
		}
		// frames[0] is the frame that failed.
		if errors.Is(err, memifpcap.ErrLinkDown) && r.ctx.Err() == nil && r.resume(f, frames[0].num) {
			continue
		}
		if r.ctx.Err() != nil {
			return errStop // a signal ended the wait for room or for the link
		}
		atomicx.Bump(&r.failed, 1)
		switch {
		case errors.Is(err, memifpcap.ErrTimeout):
			err = fmt.Errorf("the memif ring stayed full for %v (-write-timeout): the peer is not taking frames", r.o.writeTimeout)
		case errors.Is(err, memifpcap.ErrLinkDown):
			err = fmt.Errorf("the memif link went down and did not come back within %v (-wait)", r.o.wait)
		}
		// A frame WriteBatch refused is told as a single write tells it:
		// the packet number already says which frame it was.
		var be *memifpcap.BatchError
		if errors.As(err, &be) {
			err = be.Err
		}
		return fmt.Errorf("%s: packet %d: %w; stopped after sending %d packets", f.name, frames[0].num, err, r.sent.Load())
	}
	return nil
}

// resume waits, up to -wait, for a link that went down mid-replay to come
// back (a client reconnects by itself; a server takes the next client),
// and reports whether it did: the replay then goes on from the frame that
// failed, record num of file f. Frames still in the ring when the link
// dropped are lost with it: the summary counts them (Stats().TxLost).
func (r *replay) resume(f *inputFile, num int) bool {
	how := fmt.Sprintf("up to %v (-wait)", r.o.wait)
	if r.o.wait < 0 {
		how = "until stopped (-wait forever)"
	}
	fmt.Fprintf(r.stderr, "memifinject: link down at %s packet %d; waiting %s for it to come back\n", f.name, num, how)
	ctx := r.ctx
	if r.o.wait >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.o.wait)
		defer cancel()
	}
	if r.h.WaitLinkUp(ctx) != nil {
		return false
	}
	fmt.Fprintf(r.stderr, "memifinject: link up again; resuming at %s packet %d\n", f.name, num)
	r.pacer.restart()
	return true
}

// summary is the replay so far. What was sent is delivered (the peer took
// it), lost (it never will: the link went down with it in the ring, or
// memifinject closed the link) or, while the replay runs, in flight.
func (r *replay) summary() *summary {
	st := r.h.Stats()
	sent, inFlight := r.sent.Load(), uint64(r.h.TxInFlight())
	s := &summary{
		packets:   sent,
		lost:      min(st.TxLost, sent),
		inFlight:  inFlight,
		bytes:     r.bytes.Load(),
		failed:    r.failed.Load(),
		truncated: r.truncated.Load(),
		retried:   st.TxRingFull - r.ringFullBase,
		skipped:   r.skipped.Load(),
		stripL2:   r.o.stripL2,
		filtered:  r.filtered.Load(),
		filtering: r.o.sel.filters(),
		device:    r.dev,
	}
	// Read apart, the counters may disagree by a frame or two while the
	// replay runs; at the end (link closed) nothing is in flight.
	s.inFlight = min(s.inFlight, sent-s.lost)
	s.delivered = sent - s.lost - s.inFlight
	if r.started.Load() {
		s.elapsed = time.Duration(r.lastNS.Load() - r.startNS.Load())
	}
	return s
}

// printEvery prints the summary to w every d while the replay runs (the
// final one is printed by the caller); stop ends it.
func (r *replay) printEvery(d time.Duration, w io.Writer) (stop func()) {
	if d <= 0 {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				s := r.summary()
				if r.started.Load() {
					s.elapsed = r.clock.now() - time.Duration(r.startNS.Load())
				}
				_ = s.writeTo(w) // a failing stdout shows in the final summary's error
			}
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}

// finish waits until the peer has taken every frame written, then
// closes the link: closing drops what is still in the ring. It waits
// while the peer takes frames: a peer that takes none for -write-timeout
// (0: no limit) fails the run. A signal, before or during that wait, ends
// it once the peer takes none for a moment (memifflag.Drain); a second
// ends it at once; the run is then not failed, and the summary counts
// what the peer never took as lost. After a failed write the peer is
// stuck or gone: no wait.
func (r *replay) finish() error {
	ctx := r.ctx
	var err error
	lostBefore := r.h.Stats().TxLost
	if r.sent.Load() > 0 && r.failed.Load() == 0 {
		err = memifflag.Drain(ctx, memifflag.SecondSignal(ctx), r.h, r.o.writeTimeout)
	}
	r.h.Close() // Config.CloseLinger is negative: the drain was ours
	lost := min(r.h.Stats().TxLost-lostBefore, r.sent.Load())
	switch {
	case err == nil, ctx.Err() != nil:
		return nil
	case errors.Is(err, memifflag.ErrStalled):
		return fmt.Errorf("the peer took no frame for %v (-write-timeout) with %d still in the ring: they are lost", r.o.writeTimeout, lost)
	case errors.Is(err, memifpcap.ErrLinkDown):
		return fmt.Errorf("the memif link went down before the peer took the last frames: %d lost", lost)
	}
	return err
}
