package memifpcap

import (
	"context"

	"github.com/memifpcap/memifpcap/control"
)

// Hooks for programs that join two links, such as the memif tap (package
// memiftap), kept apart from the hot paths.

// Disconnect ends the current link, if any, sending reason to the peer in
// DISCONNECT (cut to memif's 96 bytes), as Close does with "Device
// closed"; the Handle stays open: a client reconnects after
// ReconnectInterval (unless negative) and a server accepts its next
// client. A program that forwards between two links tells one peer why
// with it when the other link went ("upstream peer disconnected: ...").
//
// As Close does, it first hands back the slots the last zero-copy reads
// still hold (when no read is running), so that the peer sees every frame
// we took as taken. Frames the peer had not taken from our transmit rings
// count in Stats().TxLost. Disconnect returns once the link is torn down.
// It does nothing while the link is down.
func (h *Handle) Disconnect(reason string) {
	if reason == "" {
		reason = control.ReasonDeviceClosed
	}
	if s := h.sess.Load(); s != nil {
		s.closeWith(reason)
	}
}

// DownReason says why the link last went down, as its reads report it in
// ErrLinkDown ("peer disconnected: Device closed", "peer closed the
// control channel"): the current link's reason once it is going down,
// else the last link's, even if the next one is up already; "" before any
// link went down.
func (h *Handle) DownReason() string {
	if s := h.sess.Load(); s != nil && s.down.Load() {
		return s.reason // written before down was set
	}
	if t := h.lastTorn.Load(); t != nil {
		return t.reason
	}
	return ""
}

// WaitLinkDown waits until the current link ends, and returns why (as
// DownReason says); it returns at once, with DownReason, while the link is
// down. A link that ends and is followed at once by the next (a client
// reconnecting, a server's next client) is not missed: the wait is for the
// link that was up when it was called. It returns ErrClosed when the
// Handle is closed first and ctx.Err() when ctx ends first.
func (h *Handle) WaitLinkDown(ctx context.Context) (string, error) {
	s := h.sess.Load()
	if s == nil || s.down.Load() {
		return h.DownReason(), nil
	}
	for {
		ch := h.stateChan()
		if s.down.Load() || h.sess.Load() != s {
			return s.reason, nil // written before down was set, and down is set before the session is replaced
		}
		if h.closed.Load() {
			return "", ErrClosed
		}
		select {
		case <-ch:
		case <-h.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// RefuseClients makes a server Handle refuse every client from now on
// with reason in DISCONNECT (it keeps listening), until called with "".
// A program that takes one link at a time (the tap) calls it once its
// link is up, so that no next client is admitted between the end of that
// link and the program's Close: Admit already refuses "Already connected"
// while a link is up, and this keeps refusing after it. A client Handle
// ignores it.
func (h *Handle) RefuseClients(reason string) {
	if reason == "" {
		h.refuse.Store(nil)
		return
	}
	h.refuse.Store(&reason)
}

// refusing is RefuseClients's reason, or "".
func (h *Handle) refusing() string {
	if r := h.refuse.Load(); r != nil {
		return *r
	}
	return ""
}
