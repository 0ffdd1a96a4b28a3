package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/memiftap"
)

// Tap mode: memifdump -tap-socket PATH joins the link its connection flags
// describe (upstream: usually the real server, such as VPP) and a second
// link it offers on -tap-socket (downstream: the peer that used to connect
// to that server), forwards every frame both ways and records them. See
// package memiftap.

// tapFlags are the flags of the second link and of the tap's capture.
type tapFlags struct {
	socket     string
	id         uint64
	role       string
	secret     string
	ringSize   int
	bufferSize int
	lossless   bool
	both       bool
	spoolKiB   int
}

func registerTap(fs *flag.FlagSet) *tapFlags {
	f := &tapFlags{}
	fs.StringVar(&f.socket, "tap-socket", "", "tap mode: offer the link on `socket` too, and forward every frame between it and the link of -socket, both ways, recording them "+
		"(the peer that used to connect to -socket connects here)")
	fs.Uint64Var(&f.id, "tap-id", 0, "tap mode: interface `id` of the -tap-socket link (default -id)")
	fs.StringVar(&f.role, "tap-role", "server", "tap mode: memifdump's `role` on the -tap-socket link: server (its peer is a client) or client")
	fs.StringVar(&f.secret, "tap-secret", "", "tap mode: `secret` of the -tap-socket link (default -secret)")
	fs.IntVar(&f.ringSize, "tap-ring-size", 0, "tap mode: `slots` per ring on the -tap-socket link (default -ring-size)")
	fs.IntVar(&f.bufferSize, "tap-buffer-size", 0, "tap mode: buffer size in `bytes` on the -tap-socket link (default -buffer-size); frames are re-cut between the links' sizes")
	fs.BoolVar(&f.lossless, "tap-lossless", false, "tap mode: record every frame, holding forwarding back when the disk cannot keep up (default: forward anyway and count the frames not recorded)")
	fs.BoolVar(&f.both, "tap-both", false, "tap mode: record each frame on both links' interfaces (in on one, out on the other) instead of once, on the link it came from")
	fs.IntVar(&f.spoolKiB, "B", memiftap.DefaultSpool>>10, "tap mode: `KiB` of records that may wait for the disk before frames go unrecorded (tcpdump's buffer size)")
	return f
}

// tapOptions are the tap mode's parsed flags.
type tapOptions struct {
	cfg            memiftap.Config
	lossless, both bool
	spool          int
}

// options checks the tap flags against the rest of the command line and
// returns nil when -tap-socket is not given (no tap mode).
func (f *tapFlags) options(fs *flag.FlagSet, o *options) (*tapOptions, error) {
	if f.socket == "" {
		for _, n := range []string{"tap-id", "tap-role", "tap-secret", "tap-ring-size", "tap-buffer-size", "tap-lossless", "tap-both", "B"} {
			if isSet(fs, n) {
				return nil, usagef("-%s needs -tap-socket", n)
			}
		}
		return nil, nil
	}
	for _, n := range []string{"r", "c", "C", "G", "W", "queue"} {
		if isSet(fs, n) {
			return nil, usagef("-%s cannot be used with -tap-socket", n)
		}
	}
	if f.spoolKiB < 1 || f.spoolKiB > math.MaxInt32>>10 {
		return nil, usagef("-B %d: want 1 to %d KiB", f.spoolKiB, math.MaxInt32>>10)
	}
	role, err := memifpcap.ParseRole(f.role)
	if err != nil {
		return nil, usagef("-tap-role: %v", err)
	}
	up := *o.cfg
	down := up
	down.Role, down.Socket = role, f.socket
	if isSet(fs, "tap-id") {
		if f.id > math.MaxUint32 {
			return nil, usagef("-tap-id %d: memif interface ids are 32-bit", f.id)
		}
		down.ID = uint32(f.id)
	}
	if isSet(fs, "tap-secret") {
		if len(f.secret) > 23 {
			return nil, usagef("-tap-secret: %d bytes; memif peers use at most 23", len(f.secret))
		}
		down.Secret = f.secret
	}
	if f.ringSize != 0 {
		if n := f.ringSize; n < 2 || n > 16384 || n&(n-1) != 0 {
			return nil, usagef("-tap-ring-size %d: want a power of two from 2 to 16384", n)
		}
		down.RingSize = f.ringSize
	}
	if f.bufferSize != 0 {
		if n := f.bufferSize; n < 1 || n > 65535 {
			return nil, usagef("-tap-buffer-size %d: want 1 to 65535 bytes", n)
		}
		down.BufferSize = f.bufferSize
	}
	if up.Role == memifpcap.RoleServer && role == memifpcap.RoleServer && up.Socket == down.Socket && up.ID == down.ID {
		return nil, usagef("-tap-socket %s: both links would serve id %d there; give -tap-id another id", f.socket, up.ID)
	}
	return &tapOptions{cfg: memiftap.Config{Upstream: up, Downstream: down}, lossless: f.lossless, both: f.both, spool: f.spoolKiB << 10}, nil
}

// runTapMode runs memifdump as a tap until a signal; it returns the exit
// status.
func runTapMode(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	say := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s: "+format+"\n", append([]any{name}, args...)...)
	}
	t := o.tap
	t.cfg.OnEvent = func(line string) { say("tap: %s", line) }
	out, closeOut, err := openTapOutput(o, stdout)
	if err != nil {
		say("%v", err)
		return 1
	}
	if out != nil {
		t.cfg.Capture = &memiftap.Capture{W: out, SnapLen: o.snapLen, Filter: o.prog, FilterText: o.expr, Spool: t.spool,
			Lossless: t.lossless, Nano: o.nano, BothLinks: t.both, Format: memiftap.FormatPcap}
		if o.ng {
			t.cfg.Capture.Format = memiftap.FormatPcapNG
		}
		if o.bpfFile != "" {
			t.cfg.Capture.FilterText = "classic BPF program in " + o.bpfFile
		}
	}
	tap, err := memiftap.New(&t.cfg)
	if err != nil {
		say("%v", err)
		return 2
	}
	up, down := t.cfg.Upstream, t.cfg.Downstream
	fmt.Fprintf(stderr, "listening on memif tap %s id %d (%s) <-> %s id %d (%s), link-type %s, snapshot length %d bytes\n",
		up.Socket, up.ID, up.Role, down.Socket, down.ID, down.Role, linkTypeText(up.Mode), o.snapLen)
	err = tap.Run(ctx)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	printTapStats(stderr, tap.Stats(), out != nil, o.prog != nil)
	if err != nil {
		say("%v", err)
		return 1
	}
	return 0
}

// openTapOutput opens -w for the tap's recorder (nil without -w).
func openTapOutput(o *options, stdout io.Writer) (io.Writer, func() error, error) {
	switch o.write {
	case "":
		return nil, func() error { return nil }, nil
	case "-":
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(o.write)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

func linkTypeText(m memifpcap.Mode) string {
	switch m {
	case memifpcap.ModeIP:
		return "RAW (Raw IP)"
	case memifpcap.ModePuntInject:
		return "USER0"
	}
	return "EN10MB (Ethernet)"
}

// printTapStats prints tcpdump's closing counts for the tap, then what
// each direction forwarded and lost.
func printTapStats(w io.Writer, st memiftap.Stats, recording, filtered bool) {
	u, d := st.FromUpstream, st.FromDownstream
	if recording {
		fmt.Fprintf(w, "%s captured\n%s received\n%s dropped\n",
			packets(u.Recorded+d.Recorded), packets(u.Frames+d.Frames+u.Dropped+d.Dropped), packets(u.NotRecorded+d.NotRecorded))
		if filtered {
			fmt.Fprintf(w, "%s filtered\n", packets(u.Filtered+d.Filtered))
		}
	}
	for _, x := range []struct {
		dir string
		s   memiftap.DirStats
	}{{"upstream -> downstream", u}, {"downstream -> upstream", d}} {
		fmt.Fprintf(w, "%s: %s: %s forwarded (%d bytes), %d lost at a disconnect in the tap, %d never taken by the peer, %d too large for the other link\n",
			name, x.dir, packets(x.s.Frames), x.s.Bytes, x.s.Lost, x.s.Untaken, x.s.Dropped)
	}
}
