//go:build linux

package memifflag

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
)

func TestWaitFlag(t *testing.T) {
	for arg, want := range map[string]time.Duration{
		"0": 0, "forever": -1, "-1s": -1, "-5": -1, "250ms": 250 * time.Millisecond, "2": 2 * time.Second,
	} {
		c, err := parse(t, "-wait", arg)
		require.NoError(t, err, arg)
		require.Equal(t, want, c.ConnectWait, arg)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	Register(fs)
	require.Error(t, fs.Parse([]string{"-wait", "soon"}))
	fs.PrintDefaults()
	require.Contains(t, out.String(), "(default 10s)")
	require.Equal(t, "for up to 10s (-wait)", WaitText(10*time.Second))
	require.Equal(t, "until stopped (-wait forever)", WaitText(-1))
}

// lines collects what Open says, from any goroutine.
type lines struct {
	mu sync.Mutex
	l  []string
	ch chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 100)} }

func (l *lines) say(s string) {
	l.mu.Lock()
	l.l = append(l.l, s)
	l.mu.Unlock()
	l.ch <- s
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func (l *lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.ch:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("nothing said within 20 s")
	}
	return ""
}

func sockPath(t *testing.T) string { return filepath.Join(t.TempDir(), "memif.sock") }

type opened struct {
	h   *memifpcap.Handle
	err error
}

func openAsync(ctx context.Context, cfg *memifpcap.Config, say func(string)) <-chan opened {
	ch := make(chan opened, 1)
	go func() {
		h, err := Open(ctx, cfg, say)
		ch <- opened{h, err}
	}()
	return ch
}

func waitOpened(t *testing.T, ch <-chan opened) opened {
	t.Helper()
	select {
	case o := <-ch:
		if o.h != nil {
			t.Cleanup(func() { o.h.Close() })
		}
		return o
	case <-time.After(30 * time.Second):
		t.Fatal("Open did not return within 30 s")
	}
	return opened{}
}

// A client started before its server: the server first answers "ID not
// found" (testpmd before its port starts: here a server of another id),
// then serves our id. Open says once that it retries, however many times
// it does, and connects.
func TestOpenWaitsThroughIDNotFound(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	other, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 1})
	require.NoError(t, err)
	defer other.Close()
	l := newLines()
	ch := openAsync(context.Background(), &memifpcap.Config{Socket: sock, ID: 3, ConnectWait: time.Minute}, l.say)
	require.Equal(t, "server refused the connection: ID not found; retrying for up to 1m0s (-wait)", l.next(t))
	// Let it be refused a few more times (every 100 ms).
	refused := make(chan string, 100)
	srvRefusals, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 2,
		OnRefuse: func(r string) { refused <- r }})
	require.NoError(t, err)
	defer srvRefusals.Close()
	for range 3 {
		select {
		case <-refused:
		case <-time.After(20 * time.Second):
			t.Fatal("the client stopped trying")
		}
	}
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 3})
	require.NoError(t, err)
	defer srv.Close()
	o := waitOpened(t, ch)
	require.NoError(t, o.err)
	require.True(t, o.h.LinkUp())
	require.Equal(t, []string{"server refused the connection: ID not found; retrying for up to 1m0s (-wait)"}, l.all())
}

// No socket yet: Open says it waits, once, and connects when the server
// comes.
func TestOpenWaitsForTheSocket(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	l := newLines()
	ch := openAsync(context.Background(), &memifpcap.Config{Socket: sock, ConnectWait: -1}, l.say)
	require.Equal(t, "no memif server on "+sock+" yet; waiting until stopped (-wait forever)", l.next(t))
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv.Close()
	require.NoError(t, waitOpened(t, ch).err)
	require.Len(t, l.all(), 1)
}

// What waiting cannot cure, and a wait that runs out, are said once, by
// the error alone (after the one line that says Open waits).
func TestOpenErrorsSaidOnce(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	l := newLines()
	_, err := Open(context.Background(), &memifpcap.Config{Socket: sock, ConnectWait: 0}, l.say)
	require.EqualError(t, err, "memif: connect "+sock+": no such file or directory (is the server running?)")
	require.Empty(t, l.all(), "-wait 0: one try, nothing to say")

	_, err = Open(context.Background(), &memifpcap.Config{Socket: sock, ConnectWait: 300 * time.Millisecond}, l.say)
	require.EqualError(t, err, "memif: connect "+sock+": no such file or directory (is the server running?)")
	require.Equal(t, []string{"no memif server on " + sock + " yet; waiting for up to 300ms (-wait)"}, l.all())

	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, Secret: "right"})
	require.NoError(t, err)
	defer srv.Close()
	l = newLines()
	_, err = Open(context.Background(), &memifpcap.Config{Socket: sock, Secret: "wrong", ConnectWait: time.Hour}, l.say)
	require.EqualError(t, err, "memif: connect "+sock+" id 0: server refused the connection: Incorrect secret")
	require.Empty(t, l.all(), "the error says it")
}

// A server tells each client it refuses, with the reason.
func TestOpenServerTellsRefusals(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	l := newLines()
	srv, err := Open(context.Background(), &memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, Secret: "right"}, l.say)
	require.NoError(t, err)
	defer srv.Close()
	for range 2 {
		_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, Secret: "wrong"})
		require.Error(t, err)
		require.Equal(t, `refused client: Incorrect secret (id 0, "memifpcap")`, l.next(t))
	}
}

// A signal (ctx) ends a handshake with a server that never says HELLO,
// and the error says the user interrupted, not that HELLO did not come.
func TestOpenInterruptedHandshake(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	hl, err := hostile.Listen(sock)
	require.NoError(t, err)
	defer hl.Close()
	accepted := make(chan *hostile.Conn, 1)
	go func() {
		if c, err := hl.Accept(time.Minute); err == nil {
			accepted <- c
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	ch := openAsync(ctx, &memifpcap.Config{Socket: sock, ConnectWait: time.Hour}, newLines().say)
	var c *hostile.Conn
	select {
	case c = <-accepted:
	case <-time.After(20 * time.Second):
		t.Fatal("Open never connected")
	}
	defer c.Close()
	cancel()
	o := waitOpened(t, ch)
	require.ErrorIs(t, o.err, context.Canceled)
	require.Contains(t, o.err.Error(), "memif: connect "+sock)
	require.Contains(t, o.err.Error(), "interrupted")
	require.NotContains(t, o.err.Error(), "HELLO")
}

func TestWaitLink(t *testing.T) {
	t.Parallel()
	cfg := &memifpcap.Config{Role: memifpcap.RoleServer, Socket: sockPath(t), ID: 4}
	h, err := Open(context.Background(), cfg, newLines().say)
	require.NoError(t, err)
	defer h.Close()
	err = WaitLink(context.Background(), h, cfg, 100*time.Millisecond)
	require.EqualError(t, err, "memif "+cfg.Socket+" id 4 (server): no client connected within 100ms (-wait)")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- WaitLink(ctx, h, cfg, -1) }()
	cancel()
	select {
	case err = <-errc:
	case <-time.After(20 * time.Second):
		t.Fatal("WaitLink did not end with its context")
	}
	require.ErrorIs(t, err, context.Canceled)
	require.EqualError(t, err, "memif "+cfg.Socket+" id 4 (server): interrupted while waiting for a client: context canceled")

	cli, err := memifpcap.Open(&memifpcap.Config{Socket: cfg.Socket, ID: 4})
	require.NoError(t, err)
	defer cli.Close()
	require.NoError(t, WaitLink(context.Background(), h, cfg, -1))
}

// The first SIGINT ends the context, the second SecondSignal's.
func TestSignals(t *testing.T) {
	require.NoError(t, SecondSignal(context.Background()).Err())
	ctx, release := Signals()
	defer release()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the first SIGINT did not end the context")
	}
	require.NoError(t, SecondSignal(ctx).Err())
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case <-SecondSignal(ctx).Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the second signal did not end SecondSignal")
	}
}

func TestServerLine(t *testing.T) {
	for in, want := range map[string]string{
		`server /s: handshake with client (id 0, "memifpcap"): memif: refused client: Incorrect secret`: `refused client: Incorrect secret (id 0, "memifpcap")`,
		`server /s: handshake with client (id 9, "x): y"): memif: refused client: ID not found`:         `refused client: ID not found (id 9, "x): y")`,
		`server /s: handshake with client: memif: no INIT from the client: i/o timeout`:                 `handshake with client failed: no INIT from the client: i/o timeout`,
		`refused client: Incorrect secret (id 0, "memifpcap")`:                                          `refused client: Incorrect secret (id 0, "memifpcap")`,
	} {
		require.Equal(t, want, serverLine(in), in)
	}
}
