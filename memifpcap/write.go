package memifpcap

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/memifpcap/memifpcap/ring"
)

// WritePacketData sends one frame. A frame larger than one buffer travels
// as a chain of descriptors. When the ring is full, WritePacketData waits
// for the peer to make room, up to WriteTimeout (then ErrTimeout). While the
// link is down it fails at once with ErrLinkDown; see WaitLinkUp. The frame
// is copied: data may be reused when WritePacketData returns.
func (h *Handle) WritePacketData(data []byte) error {
	if h.closed.Load() {
		return ErrClosed
	}
	h.txMu.Lock()
	defer h.txMu.Unlock()
	var dl time.Time
	waited := 0
	for {
		if h.closed.Load() {
			return h.dropped(ErrClosed)
		}
		s := h.sess.Load()
		if s == nil || s.down.Load() {
			return h.dropped(ErrLinkDown)
		}
		err := s.tx.Write(data)
		if err == nil {
			if s.tx.Publish() {
				_ = s.txEvent.Signal()
			}
			bump(&h.stats.txPackets, 1)
			bump(&h.stats.txBytes, uint64(len(data)))
			return nil
		}
		switch {
		case errors.Is(err, ring.ErrRingFull):
		case errors.Is(err, ring.ErrFrameTooLarge):
			return h.dropped(fmt.Errorf("memif: write of a %d-byte frame: %w", len(data), err))
		default:
			// The peer offered a descriptor outside its own memory.
			s.fail("Bad descriptor", true)
			return h.dropped(fmt.Errorf("memif: write: %w", err))
		}
		// Ring full: the peer has not consumed (or, as a server, the
		// client has not refilled) yet. Nothing tells us when it does,
		// so poll, yielding, then sleeping a little.
		if waited == 0 {
			bump(&h.stats.txFull, 1)
			if h.cfg.WriteTimeout > 0 {
				dl = time.Now().Add(h.cfg.WriteTimeout)
			}
		}
		waited++
		if waited < 256 {
			runtime.Gosched()
			continue
		}
		if !dl.IsZero() && !time.Now().Before(dl) {
			return h.dropped(ErrTimeout)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

func (h *Handle) dropped(err error) error {
	bump(&h.stats.txDropped, 1)
	return err
}
