package memiftap

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/viewguard"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// One cycle of the tap's life, in one place:
//
//  1. Upstream comes up: the tap connects (client) or waits for its peer
//     (server).
//  2. Downstream comes up, offered upstream's queue counts, while
//     upstream stays up (if upstream goes first, back to 1).
//  3. Frames flow both ways, one forwarder per queue and direction, until
//     a link goes down (or ctx ends).
//  4. The forwarders of the link that went hand on what they had taken;
//     the other peer gets Linger to take what is in its rings, then is
//     disconnected with the cause. Both Handles close; what was lost is
//     counted. Back to 1. A link is disconnected or closed, here and when
//     ctx ends, only once no forwarder uses a batch read from it (package
//     viewguard).
//
// Each cycle opens new Handles, with their own reconnects off: the tap
// decides when a link comes back. A server Handle closed stops listening,
// so a client of the tap finds no server while the other link is down (as
// if its real server were away) and retries as clients do.

// cycle runs one cycle. up reports whether upstream came up, so that Run
// tells a first connect that failed for good from a later failure.
func (t *Tap) cycle(ctx context.Context, first bool) (up bool, err error) {
	uc := t.handleConfig(Upstream)
	if !first {
		uc.ConnectWait = -1
	}
	uh, err := t.open(ctx, Upstream, uc)
	if err != nil {
		return false, err
	}
	defer uh.Close()
	rx, tx := uh.ConnectedQueues()
	t.event("upstream up: %s, %d rx and %d tx queues", peerText(uh), rx, tx)

	// Downstream is admitted only while upstream is up.
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var why string
	var wg sync.WaitGroup
	wg.Go(func() {
		if r, err := uh.WaitLinkDown(uctx); err == nil {
			why = r
			cancel()
		}
	})
	dh, err := t.openDown(uctx, rx, tx)
	cancel()
	wg.Wait()
	if err != nil {
		if why != "" {
			t.event("upstream down before downstream came up: %s", why)
			return true, nil
		}
		return true, err
	}
	defer dh.Close()
	t.sess.Add(1)
	t.event("downstream up: %s; forwarding", peerText(dh))
	t.forward(ctx, [2]*memifpcap.Handle{uh, dh})
	return true, nil
}

// handleConfig is a link's Handle configuration as the tap runs it.
func (t *Tap) handleConfig(s Side) memifpcap.Config {
	c := *t.side(s)
	// The tap reconnects itself (see above); a write waits as long as the
	// other peer needs (back-pressure), until the link goes or the tap
	// stops; Close never lingers (the tap drains itself); reads never
	// cut a frame.
	c.ReconnectInterval = -1
	c.WriteTimeout = -1
	c.CloseLinger = -1
	c.SnapLen = maxSnap
	c.OnRefuse = func(reason string) { t.event("%s: %s", s, reason) }
	return c
}

// open opens one link and waits until it is up.
func (t *Tap) open(ctx context.Context, s Side, c memifpcap.Config) (*memifpcap.Handle, error) {
	h, err := memifpcap.OpenContext(ctx, &c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	if err := h.WaitLinkUp(ctx); err != nil {
		h.Close()
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	// One link per Handle: a server Handle must not admit a next client
	// between this link's end and the cycle's Close. "Already connected"
	// is what a client meets while a server still holds its last link,
	// and it retries.
	h.RefuseClients(control.ReasonAlreadyConnected)
	return h, nil
}

// openDown brings downstream up with upstream's counts (rx, tx as the tap
// sees upstream), disconnecting peers that connect other counts.
func (t *Tap) openDown(ctx context.Context, rx, tx int) (*memifpcap.Handle, error) {
	c := t.handleConfig(Downstream)
	c.ConnectWait = -1
	c.TxQueues, c.RxQueues = rx, tx
	for {
		h, err := t.open(ctx, Downstream, c)
		if err != nil {
			return nil, err
		}
		drx, dtx := h.ConnectedQueues()
		if drx == tx && dtx == rx {
			return h, nil
		}
		reason := fmt.Sprintf("Queue count mismatch: the tap carries %d queues to you and %d from you", rx, tx)
		t.event("downstream: %s (it connected %d and %d)", reason, dtx, drx)
		h.Disconnect(reason)
		h.Close()
		if c.Role == memifpcap.RoleClient {
			t.pause(ctx)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func peerText(h *memifpcap.Handle) string {
	name, ifName := h.PeerName()
	if ifName != "" {
		return fmt.Sprintf("peer %q (%s)", name, ifName)
	}
	return fmt.Sprintf("peer %q", name)
}

// downEvent is a forwarder's report that a link went down.
type downEvent struct {
	side Side
	err  error
}

// forward runs the forwarders of both links until one goes down or ctx
// ends, then ends the cycle (step 4 above).
func (t *Tap) forward(ctx context.Context, hs [2]*memifpcap.Handle) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var views [2]viewguard.Guard
	fws := t.forwarders(hs, &views)
	events := make(chan downEvent, len(fws))
	var from [2]sync.WaitGroup // the forwarders reading each link
	for _, f := range fws {
		from[f.from].Go(func() { f.run(fctx, events) })
	}
	var ev downEvent
	select {
	case ev = <-events:
	case <-ctx.Done():
	}
	if ctx.Err() == nil {
		t.endCycle(ctx, hs, ev, &from, &views, cancel)
	}
	cancel() // no forwarder waits for room any more
	for s, h := range hs {
		views[s].End(func() { h.Close() })
	}
	from[0].Wait()
	from[1].Wait()
	for _, s := range []Side{Upstream, Downstream} {
		t.dirs[s].untaken.Add(hs[s.other()].Stats().TxLost)
		t.dirs[s].bad.Add(hs[s].Stats().BadDescriptors)
	}
}

// endCycle handles the first link that went down: its forwarders hand on
// what they took, the other peer gets Linger to take what is in its rings,
// then it is told why it is disconnected.
func (t *Tap) endCycle(ctx context.Context, hs [2]*memifpcap.Handle, ev downEvent, from *[2]sync.WaitGroup, views *[2]viewguard.Guard, cancel context.CancelFunc) {
	dead := ev.side
	if hs[dead].LinkUp() && !hs[dead.other()].LinkUp() {
		dead = dead.other()
	}
	reason := hs[dead].DownReason()
	if reason == "" {
		reason = strings.TrimPrefix(ev.err.Error(), "memif: ")
	}
	t.event("%s down: %s", dead, reason)
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	if t.linger > 0 {
		var c context.CancelFunc
		lctx, c = context.WithTimeout(ctx, t.linger)
		defer c()
	}
	if t.linger <= 0 {
		cancel()
	}
	stop := context.AfterFunc(lctx, cancel) // writes to the survivor give up with the linger
	defer stop()
	from[dead].Wait()
	survivor := hs[dead.other()]
	if t.linger > 0 {
		_ = survivor.Drain(lctx)
	}
	msg := fmt.Sprintf("%s link down: %s", dead, reason)
	cancel() // what the survivor's forwarders still write to the dead link is lost
	views[dead.other()].End(func() { survivor.Disconnect(msg) })
	t.event("%s disconnected: %s", dead.other(), msg)
}
