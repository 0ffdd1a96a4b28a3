// Package memiftap is a memif tap: it joins two memif links, forwards every
// frame between them both ways, and can record what crosses into a pcap
// or pcapng file. It takes the place of one peer's server (its socket)
// for the other peer, and connects to the real peer in the role that peer
// expects, so neither program changes:
//
//	client app  --memif-->  tap (server on /run/tap.sock)
//	                        tap (client of /run/vpp/memif.sock)  --memif-->  VPP
//
// Every role pair works: the tap may be a server or a client on each link
// (Config.Upstream.Role, Config.Downstream.Role), each link with its own
// socket, id, secret, ring and buffer sizes.
//
// Forwarding is exact and lossless: every frame, chains included, crosses
// byte-identical and in order, from receive queue i of one link to
// transmit queue i of the other; a frame is re-cut into the other link's
// buffer size. A received slot goes back to its peer only once its frame
// is in the other link's ring, so a slow peer slows the other through the
// rings (back-pressure) and the tap adds no loss of its own.
//
// Links: the upstream link comes up first; the downstream peer is admitted
// (the tap listens, or connects, downstream) only while it is up, and is
// offered the queue counts upstream got. When either link goes down, the
// other is disconnected with a reason naming the cause, and both come up
// again as their roles do. Frames in flight then are counted (Stats),
// never sent twice.
//
// It is built on memifpcap's public Handle and imports nothing of cmd/.
package memiftap

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// Side names a link of the tap.
type Side int

const (
	// Upstream is the link brought up first: the real server's, in the
	// usual case. Its queue counts are the ones both links carry.
	Upstream Side = iota
	// Downstream is the link whose peer is admitted only while upstream
	// is up.
	Downstream
)

func (s Side) String() string {
	if s == Upstream {
		return "upstream"
	}
	return "downstream"
}

func (s Side) other() Side { return 1 - s }

// DefaultLinger is Config.Linger's default.
const DefaultLinger = 100 * time.Millisecond

// Config configures a Tap.
type Config struct {
	// Upstream and Downstream are the two links, as memifpcap configures
	// a Handle: Role is the tap's role on the link (RoleClient: the tap
	// connects to that peer, a server; RoleServer: the tap listens on
	// Socket for that peer, a client). Upstream's RxQueues and TxQueues
	// are what the tap asks for (client) or accepts (server); Downstream's
	// are ignored: the tap offers the downstream peer the counts upstream
	// got, its receive queues as transmit queues and the other way. A
	// downstream peer that connects other counts is disconnected with
	// "Queue count mismatch". The Modes must be equal.
	// ReconnectInterval is how often the tap tries a link again after a
	// refusal; Upstream.ConnectWait bounds the first connect as in
	// memifpcap (0: one try), later ones wait as long as needed.
	// The tap sets SnapLen, WriteTimeout, CloseLinger and OnRefuse itself.
	Upstream, Downstream memifpcap.Config
	// Capture, if set, records every frame forwarded.
	Capture *Capture
	// Linger is how long, when one link goes down, the other's peer gets
	// to take the frames already forwarded into its rings before it is
	// disconnected. Zero means DefaultLinger; negative none.
	Linger time.Duration
	// OnEvent, if set, is told what happens to the links, one line each
	// ("upstream up: ...", "downstream down: ...", refusals). It is called
	// from the tap's goroutines and must not block.
	OnEvent func(line string)
}

// DirStats count the frames of one direction: from one link's peer to the
// other's. Cumulative since New, across reconnects.
type DirStats struct {
	// Frames and Bytes were handed on: written into the other link's
	// rings.
	Frames, Bytes uint64
	// Untaken were handed on but never taken by the other peer: in its
	// ring when its link went down.
	Untaken uint64
	// Lost were taken from this link but not handed on, because the
	// other link went down first.
	Lost uint64
	// Dropped are frames the other link can never carry: empty, or
	// needing more descriptors than its ring has slots.
	Dropped uint64
	// BadDescriptors are descriptors this link's peer wrote that failed
	// a bounds check: skipped, never forwarded (counted when the link's
	// cycle ends).
	BadDescriptors uint64
	// Recorded, NotRecorded and Filtered are the capture's: frames
	// written to the file, frames the filter accepted that found the
	// spool full (tcpdump's "dropped by kernel"), frames the filter
	// rejected.
	Recorded, NotRecorded, Filtered uint64
}

// Stats are a Tap's counters.
type Stats struct {
	// FromUpstream counts the frames the upstream peer sent to the
	// downstream peer; FromDownstream the others.
	FromUpstream, FromDownstream DirStats
	// Sessions counts the times both links were up together.
	Sessions uint64
}

// Tap joins two memif links. New makes one; Run runs it.
type Tap struct {
	cfg    Config
	linger time.Duration
	rec    *recorder
	dirs   [2]dirCounters
	sess   atomic.Uint64
	runMu  sync.Mutex
	ran    bool // guarded by runMu

	// testHoldBatch, when set by a test, runs in each forwarder between
	// its read of a batch and its use (a window no timing reaches
	// reliably).
	testHoldBatch func(from Side, ms []memifpcap.Message)
}

// dirCounters are DirStats's forwarding counts, added per batch.
type dirCounters struct {
	frames, bytes, untaken, lost, dropped, bad atomic.Uint64
}

// New checks cfg and returns a Tap; nothing is opened before Run.
func New(cfg *Config) (*Tap, error) {
	c := *cfg
	if c.Upstream.Mode != c.Downstream.Mode {
		return nil, fmt.Errorf("memiftap: the links' modes differ (upstream %v, downstream %v): frames of one cannot cross to the other", c.Upstream.Mode, c.Downstream.Mode)
	}
	if c.Upstream.Role == memifpcap.RoleServer && c.Downstream.Role == memifpcap.RoleServer &&
		sameSocket(c.Upstream.Socket, c.Downstream.Socket) && c.Upstream.ID == c.Downstream.ID {
		return nil, fmt.Errorf("memiftap: both links serve socket %s id %d: give them different ids or sockets", c.Upstream.Socket, c.Upstream.ID)
	}
	if c.Capture != nil {
		cc := *c.Capture
		if err := cc.check(); err != nil {
			return nil, err
		}
		c.Capture = &cc
	}
	t := &Tap{cfg: c, linger: c.Linger}
	if c.Capture != nil {
		t.rec = newRecorder(*c.Capture)
	}
	if t.linger == 0 {
		t.linger = DefaultLinger
	}
	return t, nil
}

func sameSocket(a, b string) bool {
	if a == "" {
		a = memifpcap.DefaultSocket
	}
	if b == "" {
		b = memifpcap.DefaultSocket
	}
	return a == b
}

// Stats returns the tap's cumulative counters. It may be called at any
// time, also while Run runs.
func (t *Tap) Stats() Stats {
	st := Stats{Sessions: t.sess.Load()}
	for i, d := range []*DirStats{&st.FromUpstream, &st.FromDownstream} {
		c := &t.dirs[i]
		*d = DirStats{Frames: c.frames.Load(), Bytes: c.bytes.Load(), Untaken: c.untaken.Load(),
			Lost: c.lost.Load(), Dropped: c.dropped.Load(), BadDescriptors: c.bad.Load()}
		if t.rec != nil {
			d.Recorded, d.NotRecorded, d.Filtered = t.rec.stats(i)
		}
	}
	return st
}

func (t *Tap) event(format string, args ...any) {
	if t.cfg.OnEvent != nil {
		t.cfg.OnEvent(fmt.Sprintf(format, args...))
	}
}

// Run runs the tap until ctx ends (once per Tap), then closes both links, completes the
// capture (the pcapng statistics blocks) and returns nil. It returns an
// error at once when the first connect of a link fails for good (a wrong
// secret, a mode the peer refuses), or the capture cannot start; a link
// that fails later is tried again. The capture's write error, if W
// failed, is returned at the end (forwarding went on without recording).
func (t *Tap) Run(ctx context.Context) (err error) {
	if !t.runMu.TryLock() {
		return errors.New("memiftap: Run is already running")
	}
	defer t.runMu.Unlock()
	if t.ran {
		return errors.New("memiftap: Run has run: a Tap runs once")
	}
	t.ran = true
	if t.rec != nil {
		lt := uint16(layersglue.LinkTypeForMode(t.cfg.Upstream.Mode))
		if err := t.rec.start(lt, [2]linkInfo{t.linkInfo(Upstream), t.linkInfo(Downstream)}); err != nil {
			return err
		}
		stopRec := context.AfterFunc(ctx, t.rec.abort)
		defer func() {
			stopRec()
			if cerr := t.rec.close(); err == nil {
				err = cerr
			}
		}()
	}
	first := true
	for ctx.Err() == nil {
		up, err := t.cycle(ctx, first)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if first && !up {
				return err
			}
			t.event("%v; trying again", err)
			t.pause(ctx)
			continue
		}
		first = false
	}
	return nil
}

// pause waits a retry interval, or until ctx ends.
func (t *Tap) pause(ctx context.Context) {
	d := t.cfg.Upstream.ReconnectInterval
	if d <= 0 {
		d = memifpcap.DefaultReconnectInterval
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

func (t *Tap) linkInfo(s Side) linkInfo {
	c := t.side(s)
	sock := c.Socket
	if sock == "" {
		sock = memifpcap.DefaultSocket
	}
	peer := "server"
	if c.Role == memifpcap.RoleServer {
		peer = "client"
	}
	return linkInfo{
		name: fmt.Sprintf("memif %s id %d", sock, c.ID),
		desc: fmt.Sprintf("memif tap, %s link: the tap is %s on socket %s, interface id %d, for its %s peer; %v mode",
			s, c.Role, sock, c.ID, peer, c.Mode),
	}
}

func (t *Tap) side(s Side) *memifpcap.Config {
	if s == Upstream {
		return &t.cfg.Upstream
	}
	return &t.cfg.Downstream
}

// maxSnap: the tap's reads must never cut a frame, which it forwards whole.
const maxSnap = math.MaxInt32
