package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"github.com/memifpcap/memifpcap/internal/memifflag"
	"github.com/memifpcap/memifpcap/internal/viewguard"
	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/pcapfilter"
)

const name = "memifdump"

// options are the parsed and checked command line.
type options struct {
	cfg       *memifpcap.Config
	write     string // -w, "" for text
	ng        bool
	count     uint64
	snapLen   int
	flushEach bool
	nano      bool
	sizeLimit int64
	fileCount int
	rotate    time.Duration
	timed     bool // -w holds time fields
	bpfFile   string
	prog      []bpf.RawInstruction
	read      string // -r: print this capture file instead of capturing
	queue     int    // -queue: the only receive queue captured, -1 for all
	expr      string // the filter expression: the arguments after the flags
	dumpProg  int    // -d, -dd, -ddd: print the filter's program

	// tcpdump's printing flags and the others of outflags.go.
	text textFormat
	list bool        // -D
	drop *credential // -Z
	tap  *tapOptions // -tap-socket: tap mode (tap.go)
}

func usagef(format string, args ...any) error { return fmt.Errorf(format, args...) }

// parseFlags parses and checks the command line, reading the -bpf program.
// Every error it returns is bad usage (exit status 2) and names the flag;
// -h returns flag.ErrHelp after printing the usage to stderr.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package's own messages lack our prefix: print them below.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	conn := memifflag.Register(fs)
	write := fs.String("w", "", "write frames to `file` (pcap; pcapng if it ends in .pcapng or with -F pcapng); - is standard output")
	format := fs.String("F", "", "file `format`: pcap or pcapng")
	count := fs.Int64("c", 0, "stop after `count` frames (0: no limit)")
	snapLen := fs.Int("s", memifpcap.DefaultSnapLen, "snapshot `length`: bytes kept of each frame (0: 262144)")
	flushEach := fs.Bool("U", false, "flush the output after every frame")
	nano := fs.Bool("nano", false, "nanosecond timestamps in pcap files and printed lines")
	size := fs.String("C", "", "rotate when the file is larger than `size` (millions of bytes; k, m, g suffixes: KiB, MiB, GiB)")
	fileCount := fs.Int("W", 0, "with -C a ring of `n` files; with -G stop after n files")
	rotate := fs.Int("G", 0, "rotate every `seconds` (the -w name may hold %Y%m%d%H%M%S time fields)")
	bpfFile := fs.String("bpf", "", "filter with the classic BPF program in `file` (tcpdump -ddd output)")
	read := fs.String("r", "", "print the frames of the pcap or pcapng `file` (- for standard input) instead of capturing, as tcpdump -r; -bpf filters them")
	queue := fs.Int("queue", -1, "capture only receive `queue` Q (0 to -rx-queues minus 1); default every queue")
	var dumpProg int
	registerFilterFlags(fs, &dumpProg)
	out := registerOutputFlags(fs)
	args = expandShortFlags(fs, args)
	tapf := registerTap(fs)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, stderr)
			return nil, err
		}
		return nil, err
	}
	cfg, err := conn.Config()
	if err != nil {
		return nil, err
	}
	// memifdump never transmits: Close has nothing to linger for.
	cfg.CloseLinger = -1
	o := &options{cfg: cfg, write: *write, flushEach: *flushEach, nano: *nano, bpfFile: *bpfFile, read: *read, queue: *queue,
		expr: strings.Join(fs.Args(), " "), dumpProg: dumpProg}
	if err := out.apply(o); err != nil {
		return nil, err
	}
	if o.expr != "" && o.bpfFile != "" {
		return nil, usagef("a filter expression (%q) and -bpf %s are two filters: give one", o.expr, o.bpfFile)
	}
	if isSet(fs, "queue") && (o.queue < 0 || o.queue >= cfg.RxQueues) {
		return nil, usagef("-queue %d: want 0 to %d (-rx-queues %d)", o.queue, cfg.RxQueues-1, cfg.RxQueues)
	}
	if o.tap, err = tapf.options(fs, o); err != nil {
		return nil, err
	}

	switch *format {
	case "":
		o.ng = strings.HasSuffix(*write, ".pcapng")
	case "pcap":
	case "pcapng":
		o.ng = true
	default:
		return nil, usagef("-F %s: unknown format (want pcap or pcapng)", *format)
	}
	if *count < 0 {
		return nil, usagef("-c %d: the count is negative", *count)
	}
	o.count = uint64(*count)
	switch {
	case *snapLen == 0:
		o.snapLen = memifpcap.DefaultSnapLen
	case *snapLen < 0 || *snapLen > memifpcap.DefaultSnapLen:
		return nil, usagef("-s %d: the snapshot length must be from 1 to %d (0: %d)", *snapLen, memifpcap.DefaultSnapLen, memifpcap.DefaultSnapLen)
	default:
		o.snapLen = *snapLen
	}
	cfg.SnapLen = o.snapLen
	if *size != "" {
		if o.sizeLimit, err = parseFileSize(*size); err != nil {
			return nil, usagef("-C: %v", err)
		}
	}
	if *fileCount < 0 || (*fileCount == 0 && isSet(fs, "W")) {
		return nil, usagef("-W %d: the file count must be positive", *fileCount)
	}
	o.fileCount = *fileCount
	if *rotate < 0 {
		return nil, usagef("-G %d: the interval is negative", *rotate)
	}
	o.rotate = time.Duration(*rotate) * time.Second
	if o.fileCount > 0 && o.sizeLimit == 0 && o.rotate == 0 {
		return nil, usagef("-W needs -C or -G")
	}
	if o.write == "" {
		for _, f := range []string{"F", "C", "G"} {
			if isSet(fs, f) {
				return nil, usagef("-%s needs -w FILE", f)
			}
		}
	}
	if o.read != "" && (o.sizeLimit > 0 || o.rotate > 0) {
		return nil, usagef("-C and -G rotate a live capture's files: -r -w writes one file")
	}
	if o.write == "-" && (o.sizeLimit > 0 || o.rotate > 0) {
		return nil, usagef("-C and -G rotate files: they cannot write to standard output (-w -)")
	}
	if o.rotate > 0 {
		if o.timed, err = checkTimeFormat(o.write); err != nil {
			return nil, usagef("-w: %v", err)
		}
	}
	// A live capture's filter is compiled for its mode here; -r's for its
	// file, once open.
	if o.read == "" && o.dumpProg == 0 {
		if err := o.compileExpr(pcapfilter.LinkType(layersglue.LinkTypeForMode(cfg.Mode))); err != nil {
			return nil, usagef("%v", err)
		}
	}
	if o.bpfFile != "" {
		text, err := os.ReadFile(o.bpfFile)
		if err != nil {
			return nil, usagef("-bpf: %v", err)
		}
		if o.prog, err = parseBPF(string(text)); err != nil {
			return nil, usagef("-bpf %s: %v", o.bpfFile, err)
		}
	}
	return o, nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\nCapture the frames of a memif link into a pcap or pcapng file, or print them.\n\nFlags:\n", name)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// run is memifdump with its arguments and standard streams; it returns the
// exit status. Cancelling ctx (SIGINT, SIGTERM) ends the capture cleanly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stderr = &syncWriter{w: stderr}
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\nRun '%s -h' for the flags.\n", name, err, name)
		return 2
	}
	if o.list {
		return listInterfaces(stdout, stderr)
	}
	if o.dumpProg > 0 {
		if err := printProgram(o, pcapfilter.LinkType(layersglue.LinkTypeForMode(o.cfg.Mode)), stdout); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		return 0
	}
	if o.read != "" {
		if err := readFile(o, stdout); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return 1
		}
		return 0
	}
	if o.tap != nil {
		return runTapMode(ctx, o, stdout, stderr)
	}
	d := &dump{o: o, stderr: stderr}
	if err := d.run(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		if d.h == nil && ctx.Err() != nil {
			// A signal while a client waited for its server: nothing was
			// captured, and nothing failed.
			d.printStats()
			return 0
		}
		return 1
	}
	return 0
}

// dump is one capture.
type dump struct {
	o        *options
	stderr   io.Writer
	h        *memifpcap.Handle
	captured atomic.Uint64 // written by the holder of mu only
	ng       bool          // frames carry their queue as the pcapng interface index

	// mu is held around the sink: the readers of several queues take
	// turns writing a whole batch each, so that a batch costs one lock
	// and no allocation, whatever the number of queues.
	mu sync.Mutex
	// views is held by each reader from its read's return until its batch
	// is written: the Handle is closed while readers run only through
	// closeHandle, which waits for their batches (Close hands a batch's
	// slots back to the peer, which may rewrite them at once).
	views viewguard.Guard
}

// closeHandle closes the Handle once every batch read is written; a
// reader that reads one after that drops it.
func (d *dump) closeHandle() {
	d.views.End(func() { d.h.Close() })
}

// reader reads one receive queue with its own batch buffers.
type reader struct {
	q       *memifpcap.RxQueue
	batch   []memifpcap.Message // the messages of ReadBatch, reused
	scratch []byte              // a chained frame, gathered
	arena   []byte              // a batch copied out of unsealed memory
}

func (d *dump) run(ctx context.Context, stdout io.Writer) error {
	o := d.o
	// A client waits -wait for its server (saying so, and each refusal);
	// a server prints each client it refuses. A signal ends the wait.
	say := func(line string) { fmt.Fprintf(d.stderr, "%s: %s\n", name, line) }
	if o.text.verbose > 0 {
		// -v also shows the handshake, to see why a link does not come up.
		memifflag.TraceControl(o.cfg, say)
	}
	h, err := memifflag.Open(ctx, o.cfg, say)
	if err != nil {
		return err
	}
	d.h = h
	defer h.Close()
	if o.prog != nil {
		if err := h.SetBPF(o.prog); err != nil {
			return fmt.Errorf("-bpf %s: %w", o.bpfFile, err)
		}
	}
	// Before the start line, which tells scripts that SIGUSR1 is safe.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	start := time.Now()
	out, err := d.newSink(stdout, start)
	if err != nil {
		return err
	}
	if err := dropPrivileges(o.drop); err != nil {
		out.close()
		return err
	}
	if o.rotate > 0 && !o.timed && o.sizeLimit == 0 {
		fmt.Fprintf(d.stderr, "%s: warning: -w %s has no time fields (such as %%H%%M%%S): each -G file replaces the last\n", name, o.write)
	}
	fmt.Fprintf(d.stderr, "listening on memif %s id %d (%s), link-type %s, snapshot length %d bytes\n",
		o.cfg.Socket, o.cfg.ID, o.cfg.Role, layersglue.LinkTypeName(h.LinkType()), h.SnapLen())

	// Helpers beside the capture loop, until it ends: one closes the Handle
	// on SIGINT or SIGTERM (the blocked read then returns io.EOF), one says
	// when the link is back, one prints the counts on SIGUSR1.
	helpers, stopHelpers := context.WithCancel(context.Background())
	defer stopHelpers()
	closed := make(chan struct{}) // the output is flushed and closed
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			// The output may be a FIFO or pipe nobody reads any more,
			// with a reader stuck writing its batch: a signal must end
			// memifdump all the same.
			stuck := time.AfterFunc(outputGrace, func() {
				if a, ok := out.(interface{ abandon() }); ok {
					a.abandon()
				}
			})
			d.closeHandle()
			<-closed
			stuck.Stop()
		case <-helpers.Done():
		}
	})
	downs := make(chan struct{}, 1)
	wg.Go(func() { d.watchLink(helpers, downs) })
	wg.Go(func() {
		for {
			select {
			case <-usr1:
				d.printStats()
			case <-helpers.Done():
				return
			}
		}
	})

	err = d.loop(out, downs)
	h.Close()
	if cerr := out.close(); err == nil {
		err = cerr
	}
	close(closed)
	stopHelpers()
	wg.Wait()
	if ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// abandon: stopped while the output was not being read.
		fmt.Fprintf(d.stderr, "%s: stopped while the output was not being read: the last frames were not written\n", name)
		err = nil
	}
	if errors.Is(err, errFileLimit) {
		fmt.Fprintf(d.stderr, "%s: maximum file limit reached: %d\n", name, o.fileCount)
		err = nil
	}
	d.printStats()
	return err
}

// batchSize is how many frames one ReadBatch takes off the ring: the
// mutex, the index loads, the clock and the counters are paid once per
// batch instead of once per frame, which is most of the cost of a 64-byte
// frame (docs/PERFORMANCE.md, case 5), and a file's frames written from
// the ring (large ones) take one writev per batch: 256 instead of 64 took
// memifdump -w /dev/null at 1500 B from 46-47 to 81-84 M frames in 3 s,
// and a pcap on tmpfs from 5.0-5.3 to 5.6-5.9 M (alternating, 4 and 3 of
// 3 rounds; 64 B unchanged). A batch holds its slots until the next read:
// a quarter of the usual ring of 1024, as memifperf and libmemif's bursts.
const batchSize = 256

// chainRoom is how many descriptors of a chain each message has room for
// before it grows: a 9000-byte frame in 2048-byte buffers takes 5.
const chainRoom = 8

// queues are the receive queues to capture: -queue's, else all of them.
func (d *dump) queues() []int {
	if d.o.queue >= 0 && d.o.queue < d.h.NumRxQueues() {
		return []int{d.o.queue}
	}
	qs := make([]int, d.h.NumRxQueues())
	for i := range qs {
		qs[i] = i
	}
	return qs
}

// loop moves frames from the rings to the sink until the Handle is closed,
// -c is reached or writing fails. Each queue has its own reader goroutine
// (one queue is read in place); the first of them to end for good closes
// the Handle, which ends the others with io.EOF.
func (d *dump) loop(out sink, downs chan<- struct{}) error {
	qs := d.queues()
	if len(qs) == 1 {
		return d.newReader(qs[0]).loop(d, out, downs, true)
	}
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		r := d.newReader(q)
		wg.Go(func() {
			// Only the first queue reports the link going down: every
			// queue sees it once.
			errs[i] = r.loop(d, out, downs, i == 0)
			d.closeHandle()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *dump) newReader(q int) *reader {
	r := &reader{q: d.h.RxQueue(q), batch: make([]memifpcap.Message, batchSize)}
	// Room for chains of up to chainRoom descriptors in one allocation,
	// so that the first batches do not grow each message's Buffers one by
	// one; a longer chain grows its own.
	views := make([][]byte, batchSize*chainRoom)
	for i := range r.batch {
		r.batch[i].Buffers = views[i*chainRoom : i*chainRoom : (i+1)*chainRoom]
	}
	r.scratch = make([]byte, 0, d.h.SnapLen())
	return r
}

// loop reads r's queue into out until the Handle is closed, -c is reached
// or writing fails.
//
// -c is exact in what is written: no reader writes beyond the count. With
// one queue no frame beyond it is taken off the ring either (a frame read
// is a frame counted as received); with several, frames that other queues
// took in the same moment are received but not captured, as tcpdump's
// counts can differ.
func (r *reader) loop(d *dump, out sink, downs chan<- struct{}, report bool) error {
	count := d.o.count
	for {
		ms := r.batch
		if count > 0 {
			left := count - d.captured.Load()
			if left == 0 {
				return nil
			}
			ms = ms[:min(uint64(len(ms)), left)]
		}
		k, err := r.q.ReadBatch(ms)
		if err == nil {
			// A zero-copy client's memory is not sealed: copy what it
			// could take away before the sink touches it.
			r.arena, err = r.q.CopyIfUnsealed(ms[:k], r.arena)
		}
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, memifpcap.ErrLinkDown):
			if report {
				fmt.Fprintf(d.stderr, "%s: %s; waiting for the peer\n", name, strings.TrimPrefix(err.Error(), "memif: "))
				select {
				case downs <- struct{}{}:
				default:
				}
			}
			continue
		case err != nil:
			return fmt.Errorf("read queue %d: %w", r.q.ID(), err)
		}
		if !d.views.Enter() {
			return nil // closing: the batch's slots are the peer's again
		}
		if testHoldBatch != nil {
			testHoldBatch(k)
		}
		done, err := r.write(d, out, ms[:k])
		d.views.Leave()
		if done || err != nil {
			return err
		}
	}
}

// testHoldBatch, when a test sets it, runs in each reader between its read
// of a batch and the batch's write (a window no timing reaches reliably).
var testHoldBatch func(n int)

// write hands a batch to the sink under d.mu, up to -c. done is true once
// the count is reached.
func (r *reader) write(d *dump, out sink, ms []memifpcap.Message) (done bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// captured is stored once per batch (an atomic store is a locked
	// instruction on amd64, a tenth of a 64-byte frame's time), and
	// before any return: SIGUSR1 sees it at most one batch behind.
	n := d.captured.Load()
	if count := d.o.count; count > 0 {
		if n >= count {
			return true, nil
		}
		ms = ms[:min(uint64(len(ms)), count-n)]
	}
	iface := 0
	if d.ng {
		iface = r.q.ID()
	}
	k, err := writeFrames(out, ms, iface, r)
	n += uint64(k)
	d.captured.Store(n)
	if err != nil {
		return true, err
	}
	return n == d.o.count, nil
}

// frame is a read message's bytes: the view itself for a one-descriptor
// frame, else the chain gathered into a reused buffer. Either is valid
// until the next read, as the sink's contract allows.
func (r *reader) frame(bufs [][]byte) []byte {
	if len(bufs) == 1 {
		return bufs[0]
	}
	r.scratch = r.scratch[:0]
	for _, b := range bufs {
		r.scratch = append(r.scratch, b...)
	}
	return r.scratch
}

// watchLink reports when the link comes back after each loss the capture
// loop saw, until ctx ends.
func (d *dump) watchLink(ctx context.Context, downs <-chan struct{}) {
	for {
		select {
		case <-downs:
		case <-ctx.Done():
			return
		}
		if d.h.WaitLinkUp(ctx) != nil {
			return
		}
		fmt.Fprintf(d.stderr, "%s: link up again\n", name)
	}
}

func (d *dump) newSink(stdout io.Writer, start time.Time) (sink, error) {
	o, h := d.o, d.h
	if o.write == "" {
		return newTextSink(stdout, h.LinkType(), o.text, o.flushEach || isTerminal(stdout)), nil
	}
	intf := pcapgo.NgInterface{
		Name:                fmt.Sprintf("memif %s id %d queue 0", o.cfg.Socket, o.cfg.ID),
		Description:         fmt.Sprintf("memif %s, %s mode, socket %s, interface id %d", o.cfg.Role, o.cfg.Mode, o.cfg.Socket, o.cfg.ID),
		OS:                  runtime.GOOS,
		LinkType:            h.LinkType(),
		SnapLength:          uint32(h.SnapLen()),
		TimestampResolution: 9,
	}
	if peer, ifName := h.PeerName(); peer != "" {
		// A client knows its server from the start; a server's clients
		// come and go after the file is opened.
		intf.Description += fmt.Sprintf(", peer %q interface %q", peer, ifName)
	}
	switch {
	case o.expr != "":
		intf.Filter = o.expr
		intf.Comment = fmt.Sprintf("filtered by the tcpdump expression %q (%d instructions)", o.expr, len(o.prog))
	case o.prog != nil:
		intf.Comment = fmt.Sprintf("filtered by the classic BPF program in %s (%d instructions)", o.bpfFile, len(o.prog))
	}
	var queues []pcapgo.NgInterface
	if h.NumRxQueues() > 1 {
		// One interface block per receive queue, the block's index the
		// queue id (with -queue Q too, so that the index still names
		// the queue), as Wireshark shows a multi-queue NIC's rings.
		d.ng = o.ng
		queues = make([]pcapgo.NgInterface, h.NumRxQueues())
		for q := range queues {
			queues[q] = intf
			queues[q].Name = fmt.Sprintf("memif %s id %d queue %d", o.cfg.Socket, o.cfg.ID, q)
			queues[q].Description = fmt.Sprintf("%s, receive queue %d", intf.Description, q)
		}
	}
	s := &fileSink{
		queues:     queues,
		queueStats: func(q int) memifpcap.Stats { return h.RxQueue(q).Stats() },
		pattern:    o.write,
		stdout:     stdout,
		ng:         o.ng,
		nano:       o.nano,
		flushEach:  o.flushEach,
		sizeLimit:  o.sizeLimit,
		fileCount:  o.fileCount,
		rotate:     o.rotate,
		digits:     ringDigits(o.fileCount),
		linkType:   h.LinkType(),
		snapLen:    h.SnapLen(),
		intf:       intf,
		stats:      h.Stats,
		start:      start,
	}
	if err := s.open(start); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// printStats prints tcpdump's closing counts, in memif's terms: received
// is every frame taken off the ring, dropped the descriptors skipped as
// bad, filtered (when there is a filter) what -bpf rejected.
func (d *dump) printStats() {
	var st memifpcap.Stats
	if d.h != nil {
		st = d.h.Stats()
	}
	captured := d.captured.Load()
	fmt.Fprintf(d.stderr, "%s captured\n%s received\n%s dropped\n",
		packets(captured), packets(st.Packets+st.Filtered), packets(st.BadDescriptors))
	if st.Filtered > 0 {
		fmt.Fprintf(d.stderr, "%s filtered\n", packets(st.Filtered))
	}
}

// packets counts as tcpdump does: "1 packet", "2 packets".
func packets(n uint64) string {
	if n == 1 {
		return "1 packet"
	}
	return fmt.Sprintf("%d packets", n)
}

// isTerminal reports whether w is a terminal, where tcpdump's lines appear
// as they come.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// syncWriter serializes writes to stderr from the capture loop and the
// goroutines that report the link and signals.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
