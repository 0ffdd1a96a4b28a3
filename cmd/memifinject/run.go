package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/memifpcap/memifpcap/capfile"
	"github.com/memifpcap/memifpcap/internal/memifflag"
	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// options are the parsed command line.
type options struct {
	cfg          *memifpcap.Config
	lim          ringLimit
	pace         pacing
	loops        int           // 0: forever
	limit        uint64        // 0: no limit
	duration     time.Duration // 0: no limit
	preload      bool
	noVerify     bool
	stripL2      bool
	wait         time.Duration // -wait: 0 one try, negative forever
	stats        time.Duration // 0: only at the end
	writeTimeout time.Duration // 0: forever
	files        []string
	sel          selection // -include, -exclude, -direction, -queue
	verbose      bool      // -v: every control message on stderr
}

const usageHead = `usage: memifinject [flags] FILE...

Replays pcap and pcapng files (told apart by content; gzip-compressed too)
into a memif link and prints tcpreplay's summary. Packets keep the
capture's own timing unless one of -multiplier, -pps, -mbps or -topspeed
(at most one) says otherwise. Every file is checked before the first
packet is sent. Durations take Go units (1.5s, 200ms) or plain seconds.
A client waits -wait for its server (a server, for its client).
SIGINT or SIGTERM stops whatever memifinject waits for (a server, the
link, room in a full ring) and the replay; the frames in the ring get a
drain while the peer takes them (a second signal cuts it short), and the
summary counts them: sent = delivered + lost.
Exit status: 0 all sent (or stopped), 1 bad input or failure, 2 bad usage.

`

// usageError is a command line that cannot be run (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parseArgs parses the command line. -h gives flag.ErrHelp.
func parseArgs(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("memifinject", flag.ContinueOnError)
	// flag would print its errors unprefixed, with the whole usage: run
	// prints them instead, and the usage only for -h.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	conn := memifflag.Register(fs)
	o := &options{}
	fs.Float64Var(&o.pace.multiplier, "multiplier", 1, "replay at `X` times the capture's speed: gaps between packets are divided by X")
	fs.Float64Var(&o.pace.pps, "pps", 0, "replay at `N` packets per second")
	fs.Float64Var(&o.pace.mbps, "mbps", 0, "replay at `N` megabits (10^6 bits of frames as sent) per second")
	topspeed := fs.Bool("topspeed", false, "replay as fast as the link takes the frames")
	fs.IntVar(&o.loops, "loop", 1, "replay the files `N` times; 0 loops until stopped (-limit, -duration, SIGINT)")
	fs.Uint64Var(&o.limit, "limit", 0, "stop after sending `N` packets in all; 0 means no limit")
	fs.Var(durationValue{&o.duration}, "duration", "stop after sending for `D`; 0 means no limit")
	fs.BoolVar(&o.preload, "preload", false, "read every file into memory before sending, so that disk reads do not disturb the timing")
	fs.BoolVar(&o.stripL2, "strip-l2", false, "with -mode ip: replay Ethernet captures by dropping each frame's Ethernet (and 802.1Q) header; frames that carry no IPv4 or IPv6 are skipped and counted")
	fs.BoolVar(&o.noVerify, "no-verify", false, "check only each file's header and link type before sending, not every record (starts at once on huge files; a bad record then stops the replay part-way)")
	fs.StringVar(&o.sel.include, "include", "", "replay only the frames that the tcpdump filter `EXPR` accepts (pcap-filter(7), such as 'udp port 53')")
	fs.StringVar(&o.sel.exclude, "exclude", "", "do not replay the frames that the tcpdump filter `EXPR` accepts")
	direction := fs.String("direction", "", "replay one direction of a tap capture: `in` or out (pcapng epb_flags); frames of unknown direction are left out")
	queueBy := fs.String("queue", "flow", "the transmit queue of each frame: `flow` (a hash of its addresses and ports, with -tx-queues above 1) or capture (the queue it was recorded on, pcapng epb_queue)")
	fs.BoolVar(&o.verbose, "v", false, "log every memif control message sent and received (the handshake, DISCONNECT reasons) on standard error")
	statsEvery := fs.Int("stats", 0, "print the summary every `N` seconds while sending; 0 prints it only at the end")
	o.writeTimeout = 5 * time.Second
	fs.Var(durationValue{&o.writeTimeout}, "write-timeout", "fail when the peer takes no frame for `D`: while the ring is full, or at the end while frames are still in it; 0 waits forever")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprint(stderr, usageHead)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, &usageError{msg: err.Error()}
	}
	o.files = fs.Args()
	if len(o.files) == 0 {
		return nil, usagef("no capture file given")
	}

	var pacers []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "multiplier", "pps", "mbps", "topspeed":
			pacers = append(pacers, "-"+f.Name)
		}
	})
	if len(pacers) > 1 {
		last := len(pacers) - 1
		return nil, usagef("%s and %s are mutually exclusive: give at most one", strings.Join(pacers[:last], ", "), pacers[last])
	}
	switch {
	case *topspeed:
		o.pace.kind = pacingTopSpeed
	case len(pacers) == 0 || pacers[0] == "-multiplier":
		o.pace.kind = pacingOriginal
		if !(o.pace.multiplier > 0) || o.pace.multiplier > 1e9 {
			return nil, usagef("-multiplier %v: must be above 0 and at most 1e9", o.pace.multiplier)
		}
	case pacers[0] == "-pps":
		o.pace.kind = pacingPPS
		if !(o.pace.pps > 0) || o.pace.pps > 1e12 {
			return nil, usagef("-pps %v: must be above 0 and at most 1e12", o.pace.pps)
		}
	case pacers[0] == "-mbps":
		o.pace.kind = pacingMbps
		if !(o.pace.mbps > 0) || o.pace.mbps > 1e12 {
			return nil, usagef("-mbps %v: must be above 0 and at most 1e12", o.pace.mbps)
		}
	}
	if o.loops < 0 {
		return nil, usagef("-loop %d: must be 0 (forever) or more", o.loops)
	}
	if *statsEvery < 0 {
		return nil, usagef("-stats %d: must be 0 or more seconds", *statsEvery)
	}
	o.stats = time.Duration(*statsEvery) * time.Second

	cfg, err := conn.Config()
	if err != nil {
		return nil, usagef("%v", err)
	}
	// memifflag has checked both (bufSize ≥ 1); they decide which frames
	// the ring can carry.
	o.lim = ringLimit{slots: cfg.RingSize, bufSize: cfg.BufferSize}
	o.wait = conn.Wait
	// finish drains the ring itself, while the peer takes frames, and
	// counts what it never took: Close need not linger.
	cfg.CloseLinger = -1
	cfg.WriteTimeout = o.writeTimeout
	if o.writeTimeout == 0 {
		cfg.WriteTimeout = -1 // memifpcap: negative waits forever
	}
	switch *direction {
	case "":
	case "in":
		o.sel.dir = capfile.DirectionInbound
	case "out":
		o.sel.dir = capfile.DirectionOutbound
	default:
		return nil, usagef("-direction %s: want in or out", *direction)
	}
	switch *queueBy {
	case "flow":
	case "capture":
		o.sel.byCapture = true
	default:
		return nil, usagef("-queue %s: want flow or capture", *queueBy)
	}
	o.sel.txQueues = cfg.TxQueues
	// A bad expression is bad usage: try it on the mode's link type.
	if err := o.sel.check(uint32(layersglue.LinkTypeForMode(cfg.Mode))); err != nil {
		return nil, usagef("%v", err)
	}
	if o.stripL2 && cfg.Mode != memifpcap.ModeIP {
		return nil, usagef("-strip-l2 turns Ethernet captures into IP packets: it needs -mode ip")
	}
	o.cfg = cfg
	return o, nil
}

// durationValue is a flag taking a Go duration or plain seconds, as
// tcpreplay's --duration does; negative values are refused.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return "0s" // the zero value, for flag.PrintDefaults
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != f || f > 1e9 {
			return fmt.Errorf("want a duration such as 1.5s or 200ms, or seconds")
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 {
		return fmt.Errorf("negative")
	}
	*v.d = d
	return nil
}

// run is memifinject with its arguments (without the program name); it
// returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "memifinject: %v\n", err)
		fmt.Fprintf(stderr, "usage: memifinject [flags] FILE... (memifinject -h for the flags)\n")
		return 2
	}
	// Lines from the library's goroutines (refusals) and from the replay
	// share stderr.
	stderr = &syncWriter{w: stderr}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "memifinject: %v\n", err)
		return 1
	}
	// stopped is a signal before the replay began: said, with the
	// (empty) summary, and not a failure.
	stopped := func(err error) int {
		fmt.Fprintf(stderr, "memifinject: %v\n", err)
		if werr := (&summary{device: device(o)}).writeTo(stdout); werr != nil {
			return fail(fmt.Errorf("writing the summary: %w", werr))
		}
		return 0
	}

	in, err := loadInputs(ctx, o.files, o.cfg.Mode, o.lim, loadOptions{preload: o.preload, noVerify: o.noVerify, stripL2: o.stripL2, multiPass: o.loops != 1})
	if err != nil {
		if ctx.Err() != nil {
			return stopped(err)
		}
		return fail(err)
	}
	if o.verbose {
		memifflag.TraceControl(o.cfg, func(line string) { fmt.Fprintf(stderr, "memifinject: %s\n", line) })
	}
	h, err := connect(ctx, o.cfg, o.wait, stderr)
	if err != nil {
		if ctx.Err() != nil {
			return stopped(err)
		}
		return fail(err)
	}
	r := newReplay(ctx, h, in, o, stderr)
	stopStats := r.printEvery(o.stats, stdout)
	err = r.run()
	// -stats goes on while the peer drains the ring: its in-flight count
	// shows the drain.
	if ferr := r.finish(); err == nil {
		err = ferr
	}
	stopStats()
	s := r.summary()
	if werr := s.writeTo(stdout); werr != nil && err == nil {
		err = fmt.Errorf("writing the summary: %w", werr)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// device names the interface in the summary: "memif SOCKET id N".
func device(o *options) string {
	return fmt.Sprintf("memif %s id %d", o.cfg.Socket, o.cfg.ID)
}

// syncWriter serializes the writes to stderr of the replay and of the
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
