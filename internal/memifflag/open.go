package memifflag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// Open opens the memif interface cfg describes, as every tool does at
// start, until ctx ends (a signal): then the error wraps ctx.Err().
//
// A client connects. While the server is not there yet (no socket, or a
// refusal a starting server gives: "ID not found" from testpmd until its
// port starts, "Already connected"), it keeps trying for cfg.ConnectWait
// (-wait), and says so through say, once: "no memif server on SOCK yet;
// waiting for up to 10s (-wait)", or the refusal, "server refused the
// connection: ID not found; retrying for up to 10s (-wait)", and each other
// such reason the server gives meanwhile. A refusal that waiting cannot cure (a wrong
// secret) is only Open's error, said once by the library.
//
// A server listens and returns at once (see WaitLink); through say it
// tells each client it refuses, with the reason: "refused client:
// Incorrect secret (id 0, "name")".
//
// Later refusals, when a client reconnects, are told too. say is called
// from the library's goroutines and must not block for long; it gets
// lines without the tool's name or a newline.
func Open(ctx context.Context, cfg *memifpcap.Config, say func(line string)) (*memifpcap.Handle, error) {
	r := &refusals{say: say}
	c := *cfg
	c.OnRefuse = r.refused
	if c.Role == memifpcap.RoleServer {
		return memifpcap.OpenContext(ctx, &c)
	}
	// One quiet try first: a server that is up needs no word, and a
	// refusal that waiting cannot cure is said by the error alone.
	wait, start := c.ConnectWait, time.Now()
	c.ConnectWait = 0
	r.set(phaseQuiet, "")
	h, err := memifpcap.OpenContext(ctx, &c)
	if err == nil || wait == 0 || ctx.Err() != nil || !startingUp(err) {
		r.set(phaseUp, "")
		return h, err
	}
	if wait > 0 {
		if c.ConnectWait = wait - time.Since(start); c.ConnectWait <= 0 {
			return nil, err
		}
	} else {
		c.ConnectWait = -1
	}
	r.set(phaseWaiting, WaitText(wait))
	if reason, ok := refusal(err); ok {
		r.refused(reason)
	} else {
		say(fmt.Sprintf("no memif server on %s yet; waiting %s", c.Socket, WaitText(wait)))
	}
	h, err = memifpcap.OpenContext(ctx, &c)
	r.set(phaseUp, "")
	return h, err
}

// WaitLink waits until h's link is up, for up to wait (-wait; negative:
// no limit), or until ctx ends (the error then wraps ctx.Err()). A client
// that Open returned is up already, unless it lost the link since; a
// server waits for its client.
func WaitLink(ctx context.Context, h *memifpcap.Handle, cfg *memifpcap.Config, wait time.Duration) error {
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if wait >= 0 {
		wctx, cancel = context.WithTimeout(ctx, wait)
	}
	defer cancel()
	err := h.WaitLinkUp(wctx)
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("memif %s id %d (%s)", cfg.Socket, cfg.ID, cfg.Role)
	what := "the link to come up"
	if cfg.Role == memifpcap.RoleServer {
		what = "a client"
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: interrupted while waiting for %s: %w", where, what, ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		if cfg.Role == memifpcap.RoleServer {
			return fmt.Errorf("%s: no client connected within %v (-wait)", where, wait)
		}
		return fmt.Errorf("%s: the link did not come up within %v (-wait)", where, wait)
	}
	return fmt.Errorf("%s: waiting for %s: %w", where, what, err)
}

// startingUp reports whether a failed connect is what a server that is
// not up yet answers: what Config.ConnectWait documents that the library
// waits out.
func startingUp(err error) bool {
	var de *control.DisconnectError
	if errors.As(err, &de) {
		return de.Reason == "ID not found" || de.Reason == "Already connected"
	}
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// refusal is the line OnRefuse gets for err, when err is a server's
// refusal.
func refusal(err error) (string, bool) {
	var de *control.DisconnectError
	if !errors.As(err, &de) {
		return "", false
	}
	return strings.TrimPrefix(de.Error(), "memif: "), true
}

// refusals turns Config.OnRefuse's calls into the lines a tool prints.
type refusals struct {
	say func(string)

	mu     sync.Mutex
	phase  phase
	suffix string // while waiting: how long
	last   string // the last reason told, said once in a row
}

type phase int

const (
	phaseServer  phase = iota // every refused client is told
	phaseQuiet                // a client's first try: its error says it all
	phaseWaiting              // a client waits for its server
	phaseUp                   // a client's reconnects
)

func (r *refusals) set(p phase, suffix string) {
	r.mu.Lock()
	r.phase, r.suffix = p, suffix
	r.mu.Unlock()
}

func (r *refusals) refused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.phase {
	case phaseServer:
		r.say(serverLine(reason))
		return
	case phaseQuiet:
		return
	}
	if reason == r.last {
		return
	}
	r.last = reason
	if r.phase == phaseWaiting {
		// Only what waiting may cure is retried; any other refusal ends
		// Open, whose error says it.
		if !strings.HasSuffix(reason, ": ID not found") && !strings.HasSuffix(reason, ": Already connected") {
			return
		}
		reason += "; retrying " + r.suffix
	}
	r.say(reason)
}

// serverLine is a server's refusal as a tool prints it: "refused client:
// Incorrect secret (id 0, "name")". The library reports it as the control
// server's error, "server ADDR: handshake with client (id 0, "name"):
// memif: refused client: Incorrect secret", which names the socket (the
// tool's start line did) and says "memif:" twice; a handshake that failed
// without a refusal becomes "handshake with client (id 0, "name") failed:
// CAUSE". Any other text is passed on as it is.
func serverLine(s string) string {
	_, rest, ok := strings.Cut(s, ": handshake with client")
	if !ok {
		return s
	}
	who, cause := "", ""
	if strings.HasPrefix(rest, " (id ") {
		// ` (id 9, "name"): cause`, the name quoted by %q.
		i := strings.Index(rest, `, "`)
		if i < 0 {
			return s
		}
		name, err := strconv.QuotedPrefix(rest[i+2:])
		end := i + 2 + len(name)
		if err != nil || !strings.HasPrefix(rest[end:], "): ") {
			return s
		}
		who, cause = rest[:end+1], rest[end+3:]
	} else if cause, ok = strings.CutPrefix(rest, ": "); !ok {
		return s
	}
	cause = strings.TrimPrefix(cause, "memif: ")
	if reason, ok := strings.CutPrefix(cause, "refused client: "); ok {
		return "refused client: " + reason + who
	}
	return "handshake with client" + who + " failed: " + cause
}

// TraceControl makes the Handle of cfg tell say every memif control
// message it sends and receives, one line each ("control: received HELLO
// name "VPP 24.10" versions 2.0-2.0 …"): the tools' -v, to see why a link
// with VPP or DPDK does not come up. say must be safe to call from the
// library's goroutines.
func TraceControl(cfg *memifpcap.Config, say func(line string)) {
	cfg.OnControl = func(line string) { say("control: " + line) }
}
