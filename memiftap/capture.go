package memiftap

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// Format is a capture file format.
type Format int

const (
	// FormatPcapNG (the default) records each frame with the link it came
	// from (one interface block per link), its direction (epb_flags) and
	// its queue (epb_queue), and each link's counts at the end.
	FormatPcapNG Format = iota
	// FormatPcap records the frames alone.
	FormatPcap
)

// DefaultSpool is the default Capture.Spool: the bytes of records that may
// wait for the disk before frames go unrecorded.
const DefaultSpool = 16 << 20

// Capture says where and how a tap records the frames it forwards.
type Capture struct {
	// W receives the file. The tap writes it from a goroutine of its own,
	// so a slow W never slows forwarding (unless Lossless).
	W io.Writer
	// Format is FormatPcapNG (default) or FormatPcap.
	Format Format
	// SnapLen is the most bytes recorded of a frame (every byte is still
	// forwarded). Default memifpcap.DefaultSnapLen.
	SnapLen int
	// Filter, a classic BPF program (tcpdump -ddd, or pcapfilter), chooses
	// the frames recorded, and cuts them to the length it returns; it
	// never changes what is forwarded. FilterText, if set, is written in
	// each pcapng interface block (if_filter).
	Filter     []bpf.RawInstruction
	FilterText string
	// Spool is how many bytes of records may wait for W; default
	// DefaultSpool. When it is full, frames are forwarded but not
	// recorded, and counted (Stats, and isb_osdrop in pcapng), as
	// tcpdump's "dropped by kernel".
	Spool int
	// Lossless records every frame: a full spool holds forwarding back
	// instead, so a slow disk slows the link.
	Lossless bool
	// Nano writes nanosecond timestamps in a pcap file (pcapng always
	// has them).
	Nano bool
	// BothLinks records each frame twice, as the two ports of a bridge
	// see it: inbound on the link it came from and outbound on the link
	// it left by, so that each interface of the pcapng is the whole
	// traffic of its link. By default each frame is recorded once,
	// inbound on the link it came from.
	BothLinks bool
}

// recorder is a running capture: the spool, its writer, the counts.
type recorder struct {
	c       Capture
	ng      bool
	sp      *spool
	started time.Time
	links   [2]linkCounts
	stop    chan struct{} // closed: the writer drains the spool and ends
	done    chan struct{} // closed by the writer when it ended
	err     error         // the first write error, set by the writer before done
	dead    atomic.Bool   // W failed: nothing more is recorded
	// quit, closed by abort when the tap stops, releases Lossless
	// forwarders waiting for room (their frames count as not recorded).
	quit     chan struct{}
	quitting atomic.Bool
	quitOnce sync.Once
}

// abort releases the forwarders a Lossless capture holds back.
func (r *recorder) abort() {
	r.quitOnce.Do(func() {
		r.quitting.Store(true)
		close(r.quit)
	})
}

// linkCounts are a link's recording counters.
type linkCounts struct {
	received, accepted, recorded, notRecorded atomic.Uint64
}

// linkInfo describes a link for its interface block.
type linkInfo struct{ name, desc string }

func (c *Capture) check() error {
	if c.W == nil {
		return errors.New("memiftap: Capture.W is nil")
	}
	if c.Format != FormatPcapNG && c.Format != FormatPcap {
		return fmt.Errorf("memiftap: Capture.Format %d is neither pcapng nor pcap", c.Format)
	}
	if c.SnapLen < 0 || c.Spool < 0 {
		return errors.New("memiftap: Capture.SnapLen and Spool must not be negative")
	}
	if c.SnapLen == 0 {
		c.SnapLen = memifpcap.DefaultSnapLen
	}
	if c.Spool == 0 {
		c.Spool = DefaultSpool
	}
	// A record must fit the spool whole.
	c.Spool = max(c.Spool, 2*epbSize(c.SnapLen)+64)
	if len(c.Filter) > 0 {
		if _, err := newVM(c.Filter); err != nil {
			return err
		}
	}
	return nil
}

func newVM(prog []bpf.RawInstruction) (*bpf.VM, error) {
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		return nil, errors.New("memiftap: the capture filter holds instructions that are not classic BPF")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, fmt.Errorf("memiftap: capture filter: %w", err)
	}
	return vm, nil
}

// newRecorder makes the recorder of c; start starts it.
func newRecorder(c Capture) *recorder {
	return &recorder{c: c, ng: c.Format == FormatPcapNG, sp: newSpool(c.Spool),
		stop: make(chan struct{}), done: make(chan struct{}), quit: make(chan struct{})}
}

// start writes the file header and starts the writer.
func (r *recorder) start(linkType uint16, links [2]linkInfo) error {
	c := r.c
	r.started = time.Now()
	var hdr []byte
	if r.ng {
		hdr = shb(runtime.GOARCH, runtime.GOOS, "memiftap")
		for _, l := range links {
			hdr = append(hdr, idb(linkType, c.SnapLen, l.name, l.desc, c.FilterText, runtime.GOOS)...)
		}
	} else {
		hdr = pcapHeader(linkType, c.SnapLen, c.Nano)
	}
	if _, err := c.W.Write(hdr); err != nil {
		close(r.done)
		return fmt.Errorf("memiftap: capture: %w", err)
	}
	go r.writer()
	return nil
}

// writer writes the spool's records to W until stop, then what is left.
func (r *recorder) writer() {
	defer close(r.done)
	for {
		b := r.sp.run()
		if len(b) == 0 {
			select {
			case <-r.sp.ready:
				continue
			case <-r.stop:
				if len(r.sp.run()) == 0 {
					return
				}
				continue
			}
		}
		if _, err := r.c.W.Write(b); err != nil {
			r.err = fmt.Errorf("memiftap: capture: %w", err)
			r.dead.Store(true)
			r.sp.advance(len(b))
			r.discard()
			return
		}
		r.sp.advance(len(b))
	}
}

// discard empties the spool after W failed, so that lossless forwarders
// waiting for room go on (they record nothing more).
func (r *recorder) discard() {
	for b := r.sp.run(); len(b) > 0; b = r.sp.run() {
		r.sp.advance(len(b))
	}
}

// close stops the writer once it wrote every record, then writes each
// link's statistics block (pcapng). It returns the first write error.
func (r *recorder) close() error {
	close(r.stop)
	<-r.done
	if r.err != nil {
		return r.err
	}
	if !r.ng {
		return nil
	}
	end := time.Now()
	var b []byte
	for i := range r.links {
		l := &r.links[i]
		b = append(b, isb(uint32(i), isbCounts{
			start: r.started, end: end,
			received:          l.received.Load(),
			accepted:          l.accepted.Load(),
			hasFilterAccepted: len(r.c.Filter) > 0,
			notRecorded:       l.notRecorded.Load(),
			recorded:          l.recorded.Load(),
		})...)
	}
	if _, err := r.c.W.Write(b); err != nil {
		return fmt.Errorf("memiftap: capture: %w", err)
	}
	return nil
}

// filterState is one forwarder's filter: its own VM and a buffer for
// chained frames, which a filter must see whole.
type filterState struct {
	vm      *bpf.VM
	scratch []byte
}

func (r *recorder) newFilter() *filterState {
	f := &filterState{}
	if len(r.c.Filter) > 0 {
		f.vm, _ = newVM(r.c.Filter) // checked by Capture.check
		f.scratch = make([]byte, r.c.SnapLen)
	}
	return f
}

// keep runs the filter on a frame and returns how many of its bytes to
// record: 0 for none.
func (f *filterState) keep(segs [][]byte, n int) int {
	if f.vm == nil {
		return n
	}
	data := segs[0]
	if len(segs) > 1 {
		data = f.scratch[:gather(f.scratch[:min(n, len(f.scratch))], segs)]
	}
	k, err := f.vm.Run(data)
	if err != nil {
		return 0
	}
	return k
}

// record records a batch that came from link from on queue, forwarded to
// the other link: under one lock for the whole batch, encoded in place,
// without allocating. Frames the spool has no room for are counted as not
// recorded, unless Lossless: then it waits for the writer.
func (r *recorder) record(f *filterState, from, queue int, ms []memifpcap.Message) {
	lc := &r.links[from]
	var accepted, recorded, lost uint64
	ts := ms[0].CaptureInfo.Timestamp
	r.sp.mu.Lock()
	for i := range ms {
		m := &ms[i]
		k := f.keep(m.Buffers, m.N)
		if k == 0 {
			continue
		}
		accepted++
		capLen := min(m.N, k, r.c.SnapLen)
		if !r.put(from, uint32(queue), ts, m.Buffers, capLen, m.N) {
			lost++
			continue
		}
		recorded++
	}
	r.sp.mu.Unlock()
	signal(r.sp.ready)
	lc.received.Add(uint64(len(ms)))
	lc.accepted.Add(accepted)
	lc.notRecorded.Add(lost)
	lc.recorded.Add(recorded)
	if r.c.BothLinks {
		r.links[1-from].recorded.Add(recorded)
	}
}

// put encodes one frame's record(s), with the spool's lock held, waiting
// for room when Lossless. It reports whether they were recorded.
func (r *recorder) put(from int, queue uint32, ts time.Time, segs [][]byte, capLen, length int) bool {
	if r.dead.Load() {
		return false
	}
	size := pcapRecHdr + capLen
	if r.ng {
		size = epbSize(capLen)
	}
	total := size
	if r.c.BothLinks && r.ng {
		total = 2 * size
	}
	b := r.sp.reserve(total)
	for waited := false; b == nil || waited; {
		if b != nil {
			// Pass the wake-up on: the writer may have freed room for
			// other waiting forwarders with the one signal we took.
			signal(r.sp.freed)
			break
		}
		if !r.c.Lossless || r.dead.Load() {
			return false
		}
		r.sp.mu.Unlock()
		signal(r.sp.ready)
		select {
		case <-r.sp.freed:
		case <-r.done:
		case <-r.quit:
		}
		r.sp.mu.Lock()
		if r.quitting.Load() {
			return false
		}
		waited = true
		b = r.sp.reserve(total)
	}
	if !r.ng {
		putPcapRecord(b, ts, segs, capLen, length, r.c.Nano)
		return true
	}
	putEPB(b[:size], uint32(from), ts, segs, capLen, length, flagInbound, queue)
	if r.c.BothLinks {
		putEPB(b[size:], uint32(1-from), ts, segs, capLen, length, flagOutbound, queue)
	}
	return true
}

// stats returns link i's recording counts.
func (r *recorder) stats(i int) (recorded, notRecorded, filtered uint64) {
	l := &r.links[i]
	return l.recorded.Load(), l.notRecorded.Load(), l.received.Load() - l.accepted.Load()
}
