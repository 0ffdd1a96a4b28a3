// Package memifpcap is a gopacket capture and injection backend for memif,
// the shared-memory packet interface of DPDK's net_memif, FD.io VPP and
// libmemif. A Handle speaks memif 2.0 in either role and is a
// gopacket.PacketDataSource and gopacket.ZeroCopyPacketDataSource:
//
//	h, err := memifpcap.Open(&memifpcap.Config{Socket: "/run/vpp/memif.sock", ID: 0})
//	if err != nil { ... }
//	defer h.Close()
//	for p := range gopacket.NewPacketSource(h, h.LinkType()).Packets() { ... }
//
// NewPacketSource decodes every memif mode: LinkType answers from the mode
// (see package layersglue, which this package imports so that the
// punt/inject decoder is registered). Every read reports the queue and the
// descriptor's metadata word in CaptureInfo.AncillaryData (AncillaryQueue,
// AncillaryMetadata). Besides WritePacketData, which copies, a FrameWriter
// lets gopacket.SerializeLayers build frames directly in the transmit
// ring's shared memory, and publishes a batch of them with one ring index
// update.
//
// A Handle has Config.RxQueues receive and Config.TxQueues transmit queues
// (one each by default), each a memif ring with its own lock: RxQueue(i)
// and TxQueue(i) read and write one, so that N goroutines run N pipelines.
// The Handle's own read methods take from every receive queue in turn
// (AncillaryQueue and Message.Queue say which); its write methods act on
// transmit queue 0. Reads and writes may run concurrently with each other;
// several concurrent readers (or writers) of one queue are serialized. Read
// either through the Handle or through RxQueue(i), not both at once: a
// Handle-level read hands back the slots of the queue it read last, which
// an RxQueue reader of that queue may still be using.
package memifpcap

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/memifpcap/memifpcap/control"
	layersglue "github.com/memifpcap/memifpcap/layers_glue"
)

// The interfaces a Handle implements, checked at compile time.
var (
	_ gopacket.PacketDataSource         = (*Handle)(nil)
	_ gopacket.ZeroCopyPacketDataSource = (*Handle)(nil)
	_ gopacket.PacketSourceResolution   = (*Handle)(nil)
)

// Handle is one memif interface. Open makes one; Close ends it.
type Handle struct {
	cfg *config

	closed atomic.Bool
	done   chan struct{} // closed by Close

	sess atomic.Pointer[session] // the link's current session, nil while down
	// lastTorn is the session most recently torn down, for Drain to ask
	// what its peer had taken.
	lastTorn atomic.Pointer[session]

	stateMu sync.Mutex
	stateCh chan struct{} // closed and replaced on every link state change
	dialing *control.Conn // client: the control channel being set up, so Close can abort it
	server  *sharedServer // server: the socket this Handle is registered on
	loops   sync.WaitGroup
	closeMu sync.Mutex // serializes Close

	rxq   []*RxQueue // Config.RxQueues receive queues
	txq   []*TxQueue // Config.TxQueues transmit queues
	merge merger     // the Handle-level reads over several receive queues

	stats counters // link-level: connects, disconnects

	refuse atomic.Pointer[string] // server: refuse every client with this reason (tap_hooks.go)
}

// Open opens a memif interface as cfg describes (nil means every default:
// a client of interface id 0 on DefaultSocket, ethernet mode, 1024 slots of
// 2048 bytes).
//
// A client connects and completes the handshake before Open returns, so a
// refusal by the server (wrong secret, unknown id, ...) is Open's error,
// with the server's reason. Afterwards it reconnects by itself whenever the
// link goes down, every ReconnectInterval.
//
// A server starts listening and returns at once; the link comes up when a
// client connects (see WaitLinkUp). Reads wait for it.
func Open(cfg *Config) (*Handle, error) {
	return OpenContext(context.Background(), cfg)
}

// OpenContext is Open; ctx bounds what Open waits for: a client's connect
// and handshake, and its wait for a server to come up (Config.ConnectWait).
// When ctx ends first, the error wraps ctx.Err(). ctx does not outlive
// OpenContext: the Handle is ended by Close.
func OpenContext(ctx context.Context, cfg *Config) (*Handle, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("memif: not supported on %s: memif needs Linux (memfd, eventfd, SOCK_SEQPACKET)", runtime.GOOS)
	}
	c, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	h := &Handle{
		cfg:     c,
		done:    make(chan struct{}),
		stateCh: make(chan struct{}),
	}
	h.rxq = make([]*RxQueue, c.RxQueues)
	for i := range h.rxq {
		q := &RxQueue{h: h, id: i}
		q.mode.Store(int32(c.RxMode))
		q.st.init(c, i)
		h.rxq[i] = q
	}
	h.txq = make([]*TxQueue, c.TxQueues)
	for i := range h.txq {
		h.txq[i] = &TxQueue{h: h, id: i}
	}
	if c.Role == RoleServer {
		err = h.openServer()
	} else {
		err = h.openClient(ctx)
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// LinkType is the gopacket link type of the frames on this interface,
// from its mode (the one both peers agreed on in INIT):
// layers.LinkTypeEthernet in ethernet mode, layers.LinkTypeRaw (IPv4 or
// IPv6 by the version nibble) in ip mode, and
// layersglue.LinkTypeMemifPuntInject (LINKTYPE_USER0, 147) in punt/inject
// mode, whose frames decode to one opaque layersglue.MemifPuntInject
// layer. So gopacket.NewPacketSource(h, h.LinkType()) decodes every mode.
func (h *Handle) LinkType() layers.LinkType {
	return layersglue.LinkTypeForMode(h.cfg.Mode)
}

// SnapLen is the most bytes of one frame that reads return.
func (h *Handle) SnapLen() int { return h.cfg.SnapLen }

// Resolution reports the resolution of CaptureInfo.Timestamp. memif carries
// no timestamps; a frame is stamped when the reader finds it on the ring
// (see Message.CaptureInfo).
func (h *Handle) Resolution() gopacket.TimestampResolution {
	return gopacket.TimestampResolutionNanosecond
}

// LinkUp reports whether the memif link is connected.
func (h *Handle) LinkUp() bool {
	s := h.sess.Load()
	return s != nil && !s.down.Load()
}

// WaitLinkUp waits until the link is connected, ctx is done or the Handle
// is closed (then it returns ErrClosed).
func (h *Handle) WaitLinkUp(ctx context.Context) error {
	for {
		ch := h.stateChan()
		if h.closed.Load() {
			return ErrClosed
		}
		if h.LinkUp() {
			return nil
		}
		select {
		case <-ch:
		case <-h.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stateChan returns a channel closed at the next link state change.
func (h *Handle) stateChan() chan struct{} {
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	return h.stateCh
}

// stateChanged wakes everyone waiting in stateChan.
func (h *Handle) stateChanged() {
	h.stateMu.Lock()
	close(h.stateCh)
	h.stateCh = make(chan struct{})
	h.stateMu.Unlock()
}

// Close ends the link (sending DISCONNECT to the peer), stops listening or
// reconnecting, unmaps the shared memory and wakes blocked readers and
// writers. First, like a socket's linger, it gives the peer up to
// Config.CloseLinger (default DefaultCloseLinger) to take the frames still
// in the transmit rings; those it never took count in Stats().TxLost (and
// TxDropped), so a frame that WritePacketData accepted is either delivered
// or counted, never silently gone. Every read after Close returns io.EOF, so a gopacket
// PacketSource's channel closes. Close may be called from any goroutine,
// also while another reads or writes: shared memory that a read handed out
// (ZeroCopyReadPacketData, ReadBatch, PollBatch) or that a FrameWriter is
// building a frame in stays mapped until that reader's next read (which
// returns io.EOF) or that FrameWriter's next call (ErrClosed). Close is
// idempotent.
func (h *Handle) Close() error {
	return h.CloseContext(context.Background())
}

// CloseContext is Close; ctx bounds its linger (Config.CloseLinger): a
// ctx that has already ended closes at once, and whatever the peer had not
// taken counts in Stats().TxLost.
func (h *Handle) CloseContext(ctx context.Context) error {
	h.closeMu.Lock()
	defer h.closeMu.Unlock()
	if h.closed.Load() {
		return nil
	}
	if h.cfg.CloseLinger > 0 && ctx.Err() == nil && h.LinkUp() {
		lctx, cancel := context.WithTimeout(ctx, h.cfg.CloseLinger)
		_ = h.Drain(lctx) // whatever is left is counted at teardown
		cancel()
	}
	h.stateMu.Lock()
	already := h.closed.Swap(true)
	h.stateMu.Unlock()
	if already {
		return nil
	}
	close(h.done)
	h.stopConnecting()
	if s := h.sess.Load(); s != nil {
		s.close()
	}
	h.loops.Wait()
	h.stateChanged()
	return nil
}

// Stats are cumulative counters of a Handle (Handle.Stats: the sum over
// its queues) or of one queue (RxQueue.Stats, TxQueue.Stats: the fields of
// its direction), since Open, across reconnects. Reading them is cheap and
// never blocks.
type Stats struct {
	Packets        uint64 // frames delivered by reads
	Bytes          uint64 // their full lengths
	Truncated      uint64 // frames longer than SnapLen, delivered truncated
	Filtered       uint64 // frames the BPF filter (SetBPF) rejected
	BadDescriptors uint64 // descriptors from the peer that failed a bounds check, skipped
	TxPackets      uint64 // frames written (published to the peer)
	TxBytes        uint64
	TxRingFull     uint64 // writes that found the ring full and waited
	TxDropped      uint64 // frames not delivered: writes that failed (timeout, link down, too large), frames a FrameWriter lost, and TxLost
	// TxLost counts frames that were written (published, in TxPackets)
	// but that the peer never took: still in a transmit ring when the link
	// went down, or when Close's linger ran out. They count in TxDropped
	// too. Frames delivered = TxPackets - TxLost - TxInFlight().
	TxLost uint64
	// InterruptsSent counts eventfd signals to the peer: publishes that
	// found its MASK_INT clear.
	InterruptsSent uint64
	// InterruptsReceived counts waits on a receive queue's eventfd that
	// the peer's signal ended.
	InterruptsReceived uint64
	Connects           uint64 // times the link came up
	Disconnects        uint64 // times it went down
}

type counters struct {
	packets, bytes, truncated, badDescs   atomic.Uint64
	filtered                              atomic.Uint64
	txPackets, txBytes, txFull, txDropped atomic.Uint64
	txLost                                atomic.Uint64
	intrSent, intrRecv                    atomic.Uint64
	connects, disconnects                 atomic.Uint64
}

func (c *counters) load() Stats {
	return Stats{
		Packets:            c.packets.Load(),
		Bytes:              c.bytes.Load(),
		Truncated:          c.truncated.Load(),
		Filtered:           c.filtered.Load(),
		BadDescriptors:     c.badDescs.Load(),
		TxPackets:          c.txPackets.Load(),
		TxBytes:            c.txBytes.Load(),
		TxRingFull:         c.txFull.Load(),
		TxDropped:          c.txDropped.Load(),
		TxLost:             c.txLost.Load(),
		InterruptsSent:     c.intrSent.Load(),
		InterruptsReceived: c.intrRecv.Load(),
		Connects:           c.connects.Load(),
		Disconnects:        c.disconnects.Load(),
	}
}

func (s *Stats) add(o Stats) {
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.Truncated += o.Truncated
	s.Filtered += o.Filtered
	s.BadDescriptors += o.BadDescriptors
	s.TxPackets += o.TxPackets
	s.TxBytes += o.TxBytes
	s.TxRingFull += o.TxRingFull
	s.TxDropped += o.TxDropped
	s.TxLost += o.TxLost
	s.InterruptsSent += o.InterruptsSent
	s.InterruptsReceived += o.InterruptsReceived
}

// Stats returns the Handle's cumulative counters, summed over its queues.
func (h *Handle) Stats() Stats {
	st := h.stats.load()
	for _, q := range h.rxq {
		st.add(q.stats.load())
	}
	for _, q := range h.txq {
		st.add(q.stats.load())
	}
	return st
}
