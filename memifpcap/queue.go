package memifpcap

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/bpf"
)

// RxQueue is one receive queue of a Handle: the ring the peer fills for us
// (S2C on a client, C2S on a server) with that index. Each queue has its own
// lock, reader state, filter and counters, so N goroutines can each read
// their own queue without sharing a lock. Its reads behave exactly as the
// Handle's (which are those of queue 0); CaptureInfo.AncillaryData carries
// its index in AncillaryQueue.
//
// A queue the peer did not connect (a server configured with more queues
// than its client offered) never has a frame: its reads wait as if nothing
// arrived, up to ReadTimeout, and see the link go down like the others.
//
// A frame's slot goes back to the peer (the peer counts the frame as
// taken) once the frame is no longer the caller's to use: at once for a
// copying read, at the next read for a zero-copy one or a batch. The
// slots go back in batches, one store of the ring index for up to 32
// frames (an eighth of the ring: ring.ReleaseBatch), since that store
// reaches the peer's CPU: per frame it cost a reader of single frames
// half its time. Every slot goes back when the reader takes the last
// frame the peer had published, before a read waits, and at Close; a
// reader that stops reading while frames wait in the ring leaves up to a
// batch of the frames it took counted as in flight by the peer until its
// next read or Close.
type RxQueue struct {
	h    *Handle
	id   int
	mode atomic.Int32 // RxMode
	// filter is the BPF program set by SetBPF, or nil. It is not under
	// mu: a reader waiting for a packet holds mu, and SetBPF must not
	// wait for that packet.
	filter atomic.Pointer[bpf.VM]

	mu    sync.Mutex // one reader at a time; see read.go
	st    rxState
	stats counters
}

// TxQueue is one transmit queue of a Handle: the ring we fill for the peer
// (C2S on a client, S2C on a server) with that index. Each queue has its
// own lock and counters; its writes behave exactly as the Handle's (which
// are those of queue 0). Writing to a queue the peer did not connect fails
// with an error wrapping ErrNoQueue.
type TxQueue struct {
	h  *Handle
	id int

	mu    sync.Mutex // one writer at a time; see write.go
	st    txState
	stats counters
}

// ID is the queue's index: the ADD_RING index of its ring.
func (q *RxQueue) ID() int { return q.id }

// ID is the queue's index: the ADD_RING index of its ring.
func (q *TxQueue) ID() int { return q.id }

// RxQueue returns receive queue i, 0 <= i < Config.RxQueues, or nil when i
// is out of range.
func (h *Handle) RxQueue(i int) *RxQueue {
	if i < 0 || i >= len(h.rxq) {
		return nil
	}
	return h.rxq[i]
}

// TxQueue returns transmit queue i, 0 <= i < Config.TxQueues, or nil when i
// is out of range.
func (h *Handle) TxQueue(i int) *TxQueue {
	if i < 0 || i >= len(h.txq) {
		return nil
	}
	return h.txq[i]
}

// NumRxQueues is Config.RxQueues (with the default applied).
func (h *Handle) NumRxQueues() int { return len(h.rxq) }

// NumTxQueues is Config.TxQueues (with the default applied).
func (h *Handle) NumTxQueues() int { return len(h.txq) }

// ConnectedQueues reports how many receive and transmit queues the current
// link carries: Config's counts, or fewer on a server whose client offered
// fewer rings. Both are 0 while the link is down.
func (h *Handle) ConnectedQueues() (rx, tx int) {
	s := h.sess.Load()
	if s == nil || s.down.Load() {
		return 0, 0
	}
	return len(s.rx), len(s.tx)
}

// PeerName reports the peer of the current link: its application name
// (from its HELLO or INIT: "DPDK 22.11.11", "VPP 24.10", "memifpcap") and
// its interface name (from CONNECT or CONNECTED: VPP's "memif0/0", DPDK's
// port name). Both are empty while the link is down.
func (h *Handle) PeerName() (name, ifName string) {
	s := h.sess.Load()
	if s == nil || s.down.Load() {
		return "", ""
	}
	return s.peerName, s.peerIfName
}

// RxMode is how a receive queue waits for frames.
type RxMode int

const (
	// RxModeAdaptive polls the ring briefly, then asks the peer for an
	// interrupt and sleeps on the queue's eventfd (VPP's "adaptive"). The
	// default.
	RxModeAdaptive RxMode = iota
	// RxModePoll keeps MASK_INT set on the ring, so the peer never
	// signals, and busy-reads it: lowest latency, one CPU per waiting
	// reader (VPP's "polling", DPDK's only mode).
	RxModePoll
	// RxModeInterrupt leaves the ring unmasked and sleeps on the eventfd,
	// through the Go runtime's poller, whenever the ring is empty; it
	// never spins (VPP's "interrupt", libmemif's default).
	RxModeInterrupt
)

func (m RxMode) String() string {
	switch m {
	case RxModeAdaptive:
		return "adaptive"
	case RxModePoll:
		return "poll"
	case RxModeInterrupt:
		return "interrupt"
	}
	return fmt.Sprintf("rxmode(%d)", int(m))
}

// ParseRxMode parses "adaptive", "poll" (or "polling") or "interrupt".
func ParseRxMode(s string) (RxMode, error) {
	switch strings.ToLower(s) {
	case "adaptive":
		return RxModeAdaptive, nil
	case "poll", "polling":
		return RxModePoll, nil
	case "interrupt":
		return RxModeInterrupt, nil
	}
	return 0, fmt.Errorf("memif: unknown rx mode %q (want adaptive, poll or interrupt)", s)
}

// RxMode is the queue's receive mode.
func (q *RxQueue) RxMode() RxMode { return RxMode(q.mode.Load()) }

// SetRxMode changes the queue's receive mode; the next wait of a read uses
// it, and the ring's MASK_INT follows at that wait.
func (q *RxQueue) SetRxMode(m RxMode) error {
	if m < RxModeAdaptive || m > RxModeInterrupt {
		return fmt.Errorf("memif: rx queue %d: %w: rx mode %d", q.id, errBadRxMode, int(m))
	}
	q.mode.Store(int32(m))
	return nil
}

// Stats returns the queue's cumulative counters: the receive fields, the
// interrupts it received, and the link's Connects and Disconnects.
func (q *RxQueue) Stats() Stats {
	st := q.stats.load()
	st.Connects = q.h.stats.connects.Load()
	st.Disconnects = q.h.stats.disconnects.Load()
	return st
}

// Stats returns the queue's cumulative counters: the transmit fields, the
// interrupts it sent, and the link's Connects and Disconnects.
func (q *TxQueue) Stats() Stats {
	st := q.stats.load()
	st.Connects = q.h.stats.connects.Load()
	st.Disconnects = q.h.stats.disconnects.Load()
	return st
}
