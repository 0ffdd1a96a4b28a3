// Package viewguard keeps the views a memifpcap read handed out valid
// while a program still uses them and another goroutine wants to end the
// link.
//
// Views (ReadBatch's Buffers, ZeroCopyReadPacketData's data) live until
// the reader's next read or the Handle's Close. Close, and a tap's
// Disconnect, hand the slots of the last batch read back to the peer,
// which may rewrite them at once: the memory stays mapped, but its bytes
// are no longer the frames read. A program that reads on one goroutine
// and closes on another (on a signal, when another queue ends, when the
// other link of a tap goes down) must therefore not close while a batch
// is in use. A Guard does that: each reader holds it, shared, from a
// read's return until it is done with the batch; End waits for those
// batches, then ends the link, and any batch read after End began is
// dropped.
package viewguard

import "sync"

// Guard is one link's guard. The zero value is ready.
type Guard struct {
	mu    sync.RWMutex
	ended bool
}

// Enter holds g for a batch just read. It reports false, holding
// nothing, when the link is ending: the batch's slots are the peer's
// again, and the batch must be dropped.
func (g *Guard) Enter() bool {
	g.mu.RLock()
	if g.ended {
		g.mu.RUnlock()
		return false
	}
	return true
}

// Leave ends what Enter began: the batch is no longer used.
func (g *Guard) Leave() { g.mu.RUnlock() }

// End waits until no reader uses a batch, marks the link as ending, then
// calls end (the Handle's Close or Disconnect) without holding g. A
// reader between Enter and Leave must not wait for anything End's caller
// holds, nor for End itself.
func (g *Guard) End(end func()) {
	g.mu.Lock()
	g.ended = true
	g.mu.Unlock()
	end()
}
