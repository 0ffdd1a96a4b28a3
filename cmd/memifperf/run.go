package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/memifpcap/memifpcap/internal/memifflag"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// options are the parsed flags.
type options struct {
	conn     memifflag.Flags
	mode     string
	size     int
	duration time.Duration
	batch    int
	queues   int
	rxMode   string
	pingpong bool
	wait     time.Duration
	read     string
	cpuprof  string
	batchTS  bool
}

// errUsage marks a bad command line (exit status 2).
var errUsage = errors.New("usage")

func parseArgs(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("memifperf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{conn: memifflag.Flags{Mode: "ethernet", RxQueues: 1, TxQueues: 1}} // -queues sets both
	c := &o.conn
	fs.StringVar(&c.Socket, "socket", memifpcap.DefaultSocket, "memif control `socket`: a path, or @name for an abstract socket")
	fs.Uint64Var(&c.ID, "id", 0, "memif interface `id`")
	fs.StringVar(&c.Role, "role", "client", "memif `role`: client or server")
	fs.StringVar(&c.Secret, "secret", "", "memif shared `secret` (at most 23 bytes)")
	fs.IntVar(&c.RingSize, "ring-size", memifpcap.DefaultRingSize, "`slots` per ring, a power of two from 2 to 16384")
	fs.IntVar(&c.BufferSize, "buffer-size", memifpcap.DefaultBufferSize, "packet buffer size in `bytes` (client: the buffers it creates); larger frames travel as chains")
	fs.StringVar(&o.mode, "mode", "sink", "`what` to do: gen, sink or echo")
	fs.IntVar(&o.size, "size", 64, "frame size in `bytes` (gen), 42 to 65535")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run once the link is up")
	fs.IntVar(&o.batch, "batch", 32, "frames per WriteBatch/ReadBatch call, 1 to 1024")
	fs.IntVar(&o.queues, "queues", 1, fmt.Sprintf("queues per direction, 1 to %d: one goroutine per queue pair, RESULT the totals", memifpcap.MaxQueues))
	rxQueues := fs.Int("rx-queues", 0, "VPP's name for the receive queue count; memifperf runs queue pairs, so it must equal -tx-queues (both set -queues)")
	txQueues := fs.Int("tx-queues", 0, "VPP's name for the transmit queue count (see -rx-queues)")
	fs.StringVar(&o.rxMode, "rx-mode", "adaptive", "how a receiver waits: poll (busy-poll, never sleep), interrupt or adaptive (poll briefly, then sleep on the interrupt)")
	fs.BoolVar(&o.pingpong, "pingpong", false, "with -mode gen: send one frame at a time, wait for the echo and report round-trip times")
	fs.StringVar(&o.read, "read", "batch", "sink: the read `call`: batch (ReadBatch/PollBatch), zerocopy (ZeroCopyReadPacketData), copy (ReadPacketData) or into (ReadPacketDataTo)")
	fs.BoolVar(&o.batchTS, "batch-timestamps", false, "receivers: one timestamp per batch read instead of one per frame (Config.BatchTimestamps), to measure what per-frame timestamps cost")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of the measurement to `file` (go tool pprof)")
	o.conn.RegisterWait(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	o.wait = o.conn.Wait
	switch o.mode {
	case "gen", "sink", "echo":
	default:
		return nil, fmt.Errorf("%w: -mode %q: want gen, sink or echo", errUsage, o.mode)
	}
	rxMode, err := memifpcap.ParseRxMode(o.rxMode)
	if err != nil {
		return nil, fmt.Errorf("%w: -rx-mode %q: want poll, interrupt or adaptive", errUsage, o.rxMode)
	}
	o.rxMode = rxMode.String() // "polling" is "poll" from here on
	switch o.read {
	case "batch":
	case "zerocopy", "copy", "into":
		if o.mode != "sink" {
			return nil, fmt.Errorf("%w: -read %s is for -mode sink", errUsage, o.read)
		}
	default:
		return nil, fmt.Errorf("%w: -read %q: want batch, zerocopy, copy or into", errUsage, o.read)
	}
	if *rxQueues != 0 || *txQueues != 0 {
		if *rxQueues != *txQueues {
			return nil, fmt.Errorf("%w: -rx-queues %d, -tx-queues %d: memifperf runs queue pairs, give both the same count", errUsage, *rxQueues, *txQueues)
		}
		o.queues = *rxQueues
	}
	if o.queues < 1 || o.queues > memifpcap.MaxQueues {
		return nil, fmt.Errorf("%w: -queues %d: want 1 to %d", errUsage, o.queues, memifpcap.MaxQueues)
	}
	if o.pingpong && o.queues != 1 {
		return nil, fmt.Errorf("%w: -pingpong times one frame at a time: it runs on 1 queue (-queues 1)", errUsage)
	}
	minSize := 42
	if o.pingpong {
		minSize = 50 // room for the sequence number behind the UDP header
	}
	if o.size < minSize || o.size > 65535 {
		return nil, fmt.Errorf("%w: -size %d: want %d to 65535 bytes", errUsage, o.size, minSize)
	}
	if o.batch < 1 || o.batch > 1024 {
		return nil, fmt.Errorf("%w: -batch %d: want 1 to 1024", errUsage, o.batch)
	}
	if o.duration <= 0 {
		return nil, fmt.Errorf("%w: -duration %v: want a positive duration", errUsage, o.duration)
	}
	if o.pingpong && o.mode != "gen" {
		return nil, fmt.Errorf("%w: -pingpong needs -mode gen (the peer runs -mode echo)", errUsage)
	}
	return o, nil
}

// result is what the RESULT line reports.
type result struct {
	role, mode     string
	size           int
	secs           float64
	tx, rx         uint64
	rtts           []time.Duration // ping-pong only
	rttAvg, rttP50 float64         // microseconds
	rttP99         float64
}

func (r *result) line() string {
	mpps := func(n uint64) float64 {
		if r.secs <= 0 {
			return 0
		}
		return float64(n) / r.secs / 1e6
	}
	s := fmt.Sprintf("RESULT role=%s mode=%s len=%d secs=%.3f tx_pkts=%d rx_pkts=%d tx_mpps=%.3f rx_mpps=%.3f",
		r.role, r.mode, r.size, r.secs, r.tx, r.rx, mpps(r.tx), mpps(r.rx))
	if r.mode == "pingpong" {
		s += fmt.Sprintf(" rtt_us_avg=%.2f rtt_us_p99=%.2f rtt_us_p50=%.2f", r.rttAvg, r.rttP99, r.rttP50)
	}
	return s
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "memifperf: %v\n", err)
		return 2
	}
	cfg, err := o.conn.Config()
	if err != nil {
		fmt.Fprintf(stderr, "memifperf: %v\n", err)
		return 2
	}
	// Short timeouts so that every loop looks at the clock and ctx often
	// even when nothing moves.
	cfg.RxQueues, cfg.TxQueues = o.queues, o.queues
	cfg.RxMode, _ = memifpcap.ParseRxMode(o.rxMode) // checked by parseArgs
	cfg.BatchTimestamps = o.batchTS
	cfg.ReadTimeout = 100 * time.Millisecond
	cfg.WriteTimeout = 100 * time.Millisecond
	// measure drains the rings itself, while the peer takes frames, and
	// counts what it never took: Close need not linger.
	cfg.CloseLinger = -1
	// Lines from the library's goroutines (refusals) share stderr.
	stderr = &syncWriter{w: stderr}
	res, err := measure(ctx, o, cfg, stderr)
	if res != nil {
		fmt.Fprintln(stdout, res.line())
	}
	if err != nil {
		fmt.Fprintf(stderr, "memifperf: %v\n", err)
		return 1
	}
	return 0
}

// drainIdle is how long memifperf waits, at the end, for a peer that
// takes none of the frames still in the rings.
const drainIdle = 5 * time.Second

func measure(ctx context.Context, o *options, cfg *memifpcap.Config, stderr io.Writer) (*result, error) {
	r := &result{role: cfg.Role.String(), mode: o.mode, size: o.size}
	if o.pingpong {
		r.mode = "pingpong"
	}
	// A client waits -wait for its server, a server for its client, as
	// memifdump and memifinject do; a signal meanwhile ends the run
	// with nothing measured, which is not a failure.
	say := func(line string) { fmt.Fprintf(stderr, "memifperf: %s\n", line) }
	h, err := memifflag.Open(ctx, cfg, say)
	if err == nil {
		if err = memifflag.WaitLink(ctx, h, cfg, o.wait); err != nil {
			h.Close()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "memifperf: %v\n", err)
			return r, nil
		}
		return nil, err
	}
	defer h.Close()
	fmt.Fprintf(stderr, "memifperf: link up (%s, %s)\n", o.conn.Role, o.conn.Socket)
	if o.cpuprof != "" {
		f, err := os.Create(o.cpuprof)
		if err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	end := time.Now().Add(o.duration)
	var ps []*perf
	if o.pingpong {
		p := &perf{o: o, rx: h.RxQueue(0), tx: h.TxQueue(0), r: &result{}, end: end, ctx: ctx, seen: new(atomic.Bool)}
		ps = []*perf{p}
		err = p.pingpong()
		r.secs, r.rtts, r.rttAvg, r.rttP50, r.rttP99 = p.r.secs, p.r.rtts, p.r.rttAvg, p.r.rttP50, p.r.rttP99
		if p.lost > 0 {
			fmt.Fprintf(stderr, "memifperf: %d pings did not come back within 200 ms\n", p.lost)
		}
	} else {
		ps, err = measureQueues(ctx, o, h, r, end)
	}
	finish(ctx, h, ps, o.mode == "gen" && !o.pingpong, stderr)
	for i, p := range ps {
		if o.queues > 1 {
			fmt.Fprintf(stderr, "memifperf: queue %d: tx_pkts=%d rx_pkts=%d\n", i, p.r.tx, p.r.rx)
		}
		r.tx += p.r.tx
		r.rx += p.r.rx
	}
	return r, err
}

// finish lets the peer take the frames still in the transmit rings (closing
// the link drops them), while it takes them: for up to drainIdle without
// progress, about 100 ms after a signal, not at all after a second one.
// Then it closes the link, and each queue's tx count becomes what the peer
// took: frames it never took are not counted as sent, but said on stderr.
// With absorb (a generator), frames coming back meanwhile are counted and
// handed back, as gen does: a peer in echo mode blocked on a full ring
// would hold the last frames it read, which a server counts as not taken
// until the client hands their buffers back.
func finish(ctx context.Context, h *memifpcap.Handle, ps []*perf, absorb bool, stderr io.Writer) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	if absorb {
		for _, p := range ps {
			wg.Go(func() { p.absorb(quit) })
		}
	}
	err := memifflag.Drain(ctx, memifflag.SecondSignal(ctx), h, drainIdle)
	close(quit)
	wg.Wait()
	h.Close()
	var lost uint64
	for i, p := range ps {
		n := min(h.TxQueue(i).Stats().TxLost, p.r.tx)
		p.r.tx -= n
		lost += n
	}
	if lost > 0 {
		why := "the link went down or was closed with them in the ring"
		if errors.Is(err, memifflag.ErrStalled) && ctx.Err() == nil {
			why = fmt.Sprintf("it took none for %v", drainIdle)
		}
		fmt.Fprintf(stderr, "memifperf: the peer never took %d frames written (not in tx_pkts): %s\n", lost, why)
	}
}

// measureQueues runs -mode on every queue pair i (receive queue i,
// transmit queue i), one goroutine each with its own counters, and
// returns them; r.secs runs from the first frame on any queue to the last
// on any queue.
func measureQueues(ctx context.Context, o *options, h *memifpcap.Handle, r *result, end time.Time) ([]*perf, error) {
	ps := make([]*perf, o.queues)
	seen := new(atomic.Bool)
	errs := make([]error, o.queues)
	var wg sync.WaitGroup
	for i := range ps {
		p := &perf{o: o, rx: h.RxQueue(i), tx: h.TxQueue(i), r: &result{}, end: end, ctx: ctx, seen: seen}
		ps[i] = p
		wg.Go(func() {
			if o.mode == "gen" {
				errs[i] = p.gen()
			} else {
				errs[i] = p.receive(o.mode == "echo")
			}
			if errs[i] != nil && o.queues > 1 {
				errs[i] = fmt.Errorf("queue %d: %w", i, errs[i])
			}
		})
	}
	wg.Wait()
	var first, last time.Time
	for _, p := range ps {
		if !p.first.IsZero() && (first.IsZero() || p.first.Before(first)) {
			first = p.first
		}
		if p.last.After(last) {
			last = p.last
		}
	}
	if !first.IsZero() {
		r.secs = last.Sub(first).Seconds()
	}
	return ps, errors.Join(errs...)
}

// perf is one measurement in progress on one queue pair.
type perf struct {
	o  *options
	rx *memifpcap.RxQueue
	tx *memifpcap.TxQueue
	r  *result
	// first and last are when the first and the latest frames went or
	// came: the span r.secs measures.
	first, last time.Time
	// seen is shared by the queues: whether any received a frame, so
	// that a queue that got none ends too when the generator leaves.
	seen *atomic.Bool
	end  time.Time
	ctx  context.Context
	buf  []byte // -read into

	lost int // pings that did not come back within 200 ms
}

func (p *perf) over(now time.Time) bool {
	return !now.Before(p.end) || p.ctx.Err() != nil
}

// testFrame is an Ethernet/IPv4/UDP frame of size bytes between two
// locally administered MACs, with valid lengths and checksums.
func testFrame(size int) []byte {
	eth := &layers.Ethernet{
		SrcMAC:       []byte{0x02, 0, 0, 0, 0, 1},
		DstMAC:       []byte{0x02, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: []byte{198, 18, 0, 1}, DstIP: []byte{198, 18, 0, 2}}
	udp := &layers.UDP{SrcPort: 9, DstPort: 9}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(make([]byte, size-42))); err != nil {
		panic(err) // cannot happen: sizes are checked by parseArgs
	}
	return buf.Bytes()
}

// gen sends frames as fast as the link takes them.
func (p *perf) gen() error {
	f := testFrame(p.o.size)
	ms := make([]memifpcap.Message, p.o.batch)
	for i := range ms {
		ms[i].Buffers = [][]byte{f}
	}
	// Frames coming back (from a peer in echo mode) are counted and
	// handed back at once, or the peer would stall on a full ring.
	in := make([]memifpcap.Message, p.o.batch)
	for {
		n, err := p.tx.WriteBatch(ms)
		if k, _ := p.rx.PollBatch(in); k > 0 {
			p.r.rx += uint64(k)
		}
		now := time.Now()
		if n > 0 {
			if p.first.IsZero() {
				p.first = now
			}
			p.last = now
			p.r.tx += uint64(n)
		}
		if p.over(now) {
			return nil
		}
		if err != nil && !errors.Is(err, memifpcap.ErrTimeout) {
			return fmt.Errorf("write: %w", err)
		}
	}
}

// absorb counts and hands back the frames that arrive until quit is
// closed or the link goes down.
func (p *perf) absorb(quit <-chan struct{}) {
	in := make([]memifpcap.Message, p.o.batch)
	for {
		select {
		case <-quit:
			return
		default:
		}
		k, err := p.rx.PollBatch(in)
		p.r.rx += uint64(k)
		switch {
		case err != nil:
			return
		case k == 0:
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// read reads the next batch the way -rx-mode says. n == 0 with a nil error
// means nothing arrived yet.
func (p *perf) read(ms []memifpcap.Message) (int, error) {
	if p.o.read != "batch" {
		return p.readOne()
	}
	if p.o.rxMode == "poll" {
		return p.rx.PollBatch(ms)
	}
	n, err := p.rx.ReadBatch(ms)
	if errors.Is(err, memifpcap.ErrTimeout) {
		return 0, nil
	}
	return n, err
}

// readOne reads one frame with the single-frame call -read names (they
// all wait as ReadBatch does).
func (p *perf) readOne() (int, error) {
	var err error
	switch p.o.read {
	case "zerocopy":
		_, _, err = p.rx.ZeroCopyReadPacketData()
	case "copy":
		_, _, err = p.rx.ReadPacketData()
	default:
		if p.buf == nil {
			p.buf = make([]byte, 65536)
		}
		_, err = p.rx.ReadPacketDataTo(p.buf)
	}
	if errors.Is(err, memifpcap.ErrTimeout) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return 1, nil
}

// receive counts (and with echo sends back) what arrives, until the end,
// or until the link goes down after frames came.
func (p *perf) receive(echo bool) error {
	ms := make([]memifpcap.Message, p.o.batch)
	idle, reads := 0, 0
	for {
		n, err := p.read(ms)
		if err != nil {
			if errors.Is(err, memifpcap.ErrLinkDown) && (p.r.rx > 0 || p.seen.Load()) {
				return nil // the generator left
			}
			if !errors.Is(err, memifpcap.ErrLinkDown) {
				return fmt.Errorf("read: %w", err)
			}
		}
		if n == 0 {
			// Look at the clock once in a while only: a busy poll
			// comes here millions of times a second.
			if idle++; idle&1023 == 0 && p.over(time.Now()) {
				return nil
			}
			continue
		}
		idle = 0
		p.r.rx += uint64(n)
		reads++
		if p.first.IsZero() {
			p.first = time.Now()
			p.last = p.first
			p.seen.Store(true)
		}
		// The clock is read per batch, and every 64th read of the
		// single-frame modes (a clock read costs as much as the read
		// measured): the last frame's time is then early by less than
		// 64 frames' worth, nothing in a run of seconds.
		if n > 1 || reads&63 == 0 {
			p.last = time.Now()
		}
		now := p.last
		if echo {
			if err := p.send(ms[:n]); err != nil {
				return err
			}
		}
		if p.over(now) {
			return nil
		}
	}
}

// send writes all of ms, waiting for room as long as the run lasts.
func (p *perf) send(ms []memifpcap.Message) error {
	for len(ms) > 0 {
		n, err := p.tx.WriteBatch(ms)
		p.r.tx += uint64(n)
		ms = ms[n:]
		if err != nil {
			if errors.Is(err, memifpcap.ErrTimeout) && !p.over(time.Now()) {
				continue
			}
			if errors.Is(err, memifpcap.ErrLinkDown) {
				return nil
			}
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// pingpong sends one frame at a time, numbered behind the UDP header, and
// times its return.
func (p *perf) pingpong() error {
	f := testFrame(p.o.size)
	out := []memifpcap.Message{{Buffers: [][]byte{f}}}
	in := make([]memifpcap.Message, 1)
	rtts := make([]time.Duration, 0, 1<<16)
	start := time.Now()
	defer func() {
		p.r.secs = time.Since(start).Seconds()
		p.r.rtts = rtts
		p.r.rttAvg, p.r.rttP50, p.r.rttP99 = stats(rtts)
	}()
	for seq := uint64(1); ; seq++ {
		binary.BigEndian.PutUint64(f[42:], seq)
		t0 := time.Now()
		if p.over(t0) {
			return nil
		}
		if _, err := p.tx.WriteBatch(out); err != nil {
			if errors.Is(err, memifpcap.ErrTimeout) {
				continue
			}
			return fmt.Errorf("write: %w", err)
		}
		p.r.tx++
		for spins := 0; ; spins++ {
			n, err := p.read(in)
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if n == 1 {
				p.r.rx++
				m := in[0]
				if len(m.Buffers[0]) >= 50 && binary.BigEndian.Uint64(m.Buffers[0][42:]) == seq {
					rtts = append(rtts, time.Since(t0))
					break
				}
				continue // a late echo of an earlier frame
			}
			// An empty read in poll mode is a spin, so look at the clock
			// only now and then; in the other modes it already waited
			// up to ReadTimeout, so look every time.
			if p.o.rxMode != "poll" || spins&1023 == 1023 {
				now := time.Now()
				if now.Sub(t0) > 200*time.Millisecond {
					p.lost++
					break // lost: send the next one
				}
				if p.over(now) {
					return nil
				}
			}
		}
	}
}

// stats returns the average, the median and the 99th percentile of rtts
// in microseconds.
func stats(rtts []time.Duration) (avg, p50, p99 float64) {
	if len(rtts) == 0 {
		return 0, 0, 0
	}
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	s := slices.Clone(rtts)
	slices.Sort(s)
	pct := func(q int) float64 { return float64(s[(len(s)*q+99)/100-1]) / 1e3 }
	return float64(sum) / float64(len(s)) / 1e3, pct(50), pct(99)
}

// syncWriter serializes the writes to stderr of memifperf and of the
// library's goroutines (Config.OnRefuse).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
