//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/ring"
)

// These tests run the built binary and signal it as a user's Ctrl-C
// does. Every wait selects on the process's exit and on a generous
// deadline; none asserts a duration.

const procDeadline = 30 * time.Second

var built struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// builtBinary builds memifinject once for the package's tests.
func builtBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "memifinject-bin")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "memifinject")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	require.NoError(t, built.err, "go build: %s", built.out)
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// lockedBuffer is a bytes.Buffer the process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is memifinject running as a process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	exited         chan struct{}
	err            error // cmd.Wait's, once exited is closed
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(builtBinary(t), args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitOutput waits until cond holds on the process's output, failing if
// it exits first or the deadline passes.
func (p *proc) waitOutput(t *testing.T, what string, cond func(stdout, stderr string) bool) {
	t.Helper()
	deadline := time.After(procDeadline)
	for !cond(p.stdout.String(), p.stderr.String()) {
		select {
		case <-p.exited:
			t.Fatalf("memifinject exited (%v) before %s\nstdout:\n%s\nstderr:\n%s", p.err, what, p.stdout.String(), p.stderr.String())
		case <-deadline:
			t.Fatalf("no %s within %v\nstdout:\n%s\nstderr:\n%s", what, procDeadline, p.stdout.String(), p.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
}

// exit waits for the process to end and returns its exit status (-1 if a
// signal killed it).
func (p *proc) exit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(procDeadline):
		t.Fatalf("memifinject still runs %v after the signal\nstdout:\n%s\nstderr:\n%s", procDeadline, p.stdout.String(), p.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, p.err)
	return 0
}

// lastSummary parses the last summary on stdout (-stats prints several).
func lastSummary(t *testing.T, stdout string) parsed {
	t.Helper()
	i := strings.LastIndex(stdout, "Actual: ")
	require.GreaterOrEqual(t, i, 0, "no summary:\n%s", stdout)
	return parseSummary(t, stdout[i:])
}

// smallFrames writes n frames of 100 bytes (one memif buffer each) to a
// pcap file.
func smallFrames(t *testing.T, n int) (string, []record) {
	t.Helper()
	rs := make([]record, n)
	for i := range rs {
		rs[i] = record{ts: epoch.Add(time.Duration(i) * time.Millisecond), data: frame(i, 100)}
	}
	file := filepath.Join(t.TempDir(), "small.pcap")
	writePcap(t, file, false, layers.LinkTypeEthernet, rs)
	return file, rs
}

// SIGINT while a client waits for a server that is not there: it stops
// waiting, says it was interrupted, prints the (empty) summary, exit 0.
func TestSignalWhileWaitingForTheServer(t *testing.T) {
	t.Parallel()
	file, _ := smallFrames(t, 3)
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	p := start(t, "-socket", sock, "-wait", "1h", file)
	p.waitOutput(t, "the waiting line", func(_, stderr string) bool {
		return strings.Contains(stderr, "memifinject: no memif server on "+sock+" yet; waiting for up to 1h0m0s (-wait)\n")
	})
	p.signal(t, syscall.SIGINT)
	require.Equal(t, 0, p.exit(t), p.stderr.String())
	require.Contains(t, p.stderr.String(), "memifinject: memif: connect "+sock)
	require.Contains(t, p.stderr.String(), "interrupted")
	s := parseSummary(t, p.stdout.String())
	require.Zero(t, s.packets)
}

// SIGINT while the server stalls the handshake (accepts, never says
// HELLO): memifinject says the user interrupted it, not that HELLO did not
// come.
func TestSignalDuringAStalledHandshake(t *testing.T) {
	t.Parallel()
	file, _ := smallFrames(t, 3)
	sock := filepath.Join(t.TempDir(), "stall.sock")
	l, err := hostile.Listen(sock)
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan *hostile.Conn, 1)
	go func() {
		if c, err := l.Accept(procDeadline); err == nil {
			accepted <- c
		}
	}()
	p := start(t, "-socket", sock, "-wait", "1h", file)
	select {
	case c := <-accepted:
		defer c.Close()
	case <-p.exited:
		t.Fatalf("memifinject exited: %v\n%s", p.err, p.stderr.String())
	case <-time.After(procDeadline):
		t.Fatal("memifinject never connected")
	}
	p.signal(t, syscall.SIGINT)
	require.Equal(t, 0, p.exit(t), p.stderr.String())
	require.Contains(t, p.stderr.String(), "interrupted")
	require.NotContains(t, p.stderr.String(), "HELLO")
	require.Zero(t, parseSummary(t, p.stdout.String()).packets)
}

// SIGINT while memifinject, a server, waits for its client.
func TestSignalWhileWaitingForAClient(t *testing.T) {
	t.Parallel()
	file, _ := smallFrames(t, 3)
	sock := filepath.Join(t.TempDir(), "srv.sock")
	p := start(t, "-role", "server", "-socket", sock, "-wait", "1h", file)
	p.waitOutput(t, "the socket", func(_, _ string) bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	p.signal(t, syscall.SIGINT)
	require.Equal(t, 0, p.exit(t), p.stderr.String())
	require.Equal(t, "memifinject: memif "+sock+" id 0 (server): interrupted while waiting for a client: context canceled\n", p.stderr.String())
	require.Zero(t, parseSummary(t, p.stdout.String()).packets)
}

// A peer that never reads, and -write-timeout 0 (wait forever for room):
// SIGINT ends the wait for room, and the summary counts the frames in the
// ring as lost.
func TestSignalWhileTheRingIsFull(t *testing.T) {
	t.Parallel()
	file, _ := smallFrames(t, 30)
	// Read as it goes, and preloaded (sent a batch at a time).
	for _, preload := range []bool{false, true} {
		t.Run(fmt.Sprintf("preload=%v", preload), func(t *testing.T) {
			t.Parallel()
			testSignalWhileTheRingIsFull(t, file, preload)
		})
	}
}

func testSignalWhileTheRingIsFull(t *testing.T, file string, preload bool) {
	sock := filepath.Join(t.TempDir(), "full.sock")
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv.Close()
	// 8 slots: 8 frames fit, the 9th waits for room that never comes.
	args := []string{"-socket", sock, "-ring-size", "8", "-write-timeout", "0", "-topspeed", "-stats", "1", file}
	if preload {
		args = append([]string{"-preload"}, args...)
	}
	p := start(t, args...)
	p.waitOutput(t, "a -stats summary of the full ring", func(stdout, _ string) bool {
		return strings.Contains(stdout, "Retried packets (ring full): 1\n")
	})
	p.signal(t, syscall.SIGINT)
	require.Equal(t, 0, p.exit(t), p.stderr.String())
	require.Empty(t, p.stderr.String())
	s := lastSummary(t, p.stdout.String())
	require.Equal(t, uint64(8), s.successful)
	require.Zero(t, s.failed, "the write a signal interrupted is not a failure")
	require.Zero(t, s.delivered)
	require.Equal(t, uint64(8), s.lost)
	require.Zero(t, s.inFlight)
}

// The replay is done and memifinject waits for a peer that stopped
// reading to take the rest (-write-timeout 0: no limit): SIGINT ends the
// wait; the summary says what the peer took and what it never will. What
// it took is what it handed back: a memifpcap reader hands the slots of
// the frames it read back in batches (ring.ReleaseBatch; at once when it
// catches up or waits), so of the 40 frames it read before it stopped,
// with 60 more in the ring, it handed back one batch of 32.
func TestSignalWhileDraining(t *testing.T) {
	t.Parallel()
	const sent, read = 100, 40
	file, rs := smallFrames(t, sent)
	took := read / ring.ReleaseBatch(1024) * ring.ReleaseBatch(1024)
	require.Equal(t, 32, took)
	peer := newPeer(t, memifpcap.Config{}, func(p *peer) { p.stopAfter = read })
	p := start(t, "-socket", peer.sock, "-ring-size", "1024", "-write-timeout", "0", "-topspeed", "-stats", "1", file)
	p.waitOutput(t, "a -stats summary of the frames left in the ring", func(stdout, _ string) bool {
		return strings.Contains(stdout, fmt.Sprintf("Actual: %d packets", sent)) &&
			strings.Contains(stdout, fmt.Sprintf("Packets in flight:           %d\n", sent-took))
	})
	p.signal(t, syscall.SIGINT)
	require.Equal(t, 0, p.exit(t), p.stderr.String())
	require.Empty(t, p.stderr.String())
	s := lastSummary(t, p.stdout.String())
	require.Equal(t, uint64(sent), s.successful)
	require.Equal(t, uint64(took), s.delivered)
	require.Equal(t, uint64(sent-took), s.lost)
	got, _ := peer.received(t)
	requireFrames(t, rs[:read], got)
}

// A second SIGINT ends the drain at once, although the peer still takes
// frames (which the first one lets it finish). The first signal gives up
// only on a peer that takes nothing for about 100 ms: a peer starved of
// CPU that long on a loaded machine makes an attempt inconclusive, so the
// test tries a few times.
func TestSecondSignalEndsTheDrain(t *testing.T) {
	t.Parallel()
	file, rs := smallFrames(t, 1000)
	for attempt := 1; attempt <= 5; attempt++ {
		peer := newPeer(t, memifpcap.Config{}, func(p *peer) { p.delay = 2 * time.Millisecond })
		p := start(t, "-socket", peer.sock, "-write-timeout", "0", "-topspeed", file)
		// The replay is over (1000 frames in the ring at once) when the
		// peer has read some of them.
		p.waitOutput(t, "the peer reading", func(_, _ string) bool { return peer.count() >= 20 })
		p.signal(t, syscall.SIGINT)
		n := peer.count()
		early := false
		for deadline := time.After(procDeadline); peer.count() < n+10 && !early; {
			select {
			case <-p.exited:
				early = true
			case <-deadline:
				t.Fatal("the peer stopped reading")
			case <-time.After(time.Millisecond):
			}
		}
		if !early {
			p.signal(t, syscall.SIGINT)
		}
		code := p.exit(t)
		peer.h.Close()
		got, _ := peer.received(t)
		if code == -1 && early {
			t.Fatalf("memifinject was killed by the first signal\n%s", p.stderr.String())
		}
		if code == -1 {
			// Killed by the second signal: a fault, unless the drain had
			// ended by itself just then and memifinject had printed its
			// summary and let go of the signals (a third one kills).
			require.Contains(t, p.stdout.String(), "Actual: ", "the second signal killed memifinject mid-drain")
			t.Logf("attempt %d: the second signal came as memifinject exited; again", attempt)
			continue
		}
		require.Equal(t, 0, code, p.stderr.String())
		require.Empty(t, p.stderr.String())
		s := parseSummary(t, p.stdout.String())
		require.Equal(t, uint64(len(rs)), s.successful)
		requireTook(t, s, len(got))
		requireFrames(t, rs[:len(got)], got)
		if early {
			t.Logf("attempt %d: the first signal ended the drain (the peer took nothing for 100 ms); again", attempt)
			continue
		}
		require.NotZero(t, s.lost, "the second signal left frames in the ring")
		return
	}
	t.Skip("the peer was starved of CPU in every attempt")
}

// A server that starts slowly, as testpmd does: first it answers "ID not
// found" (here a server of another id on the socket), then it serves our
// id. memifinject says once that it retries, connects within -wait and
// sends everything.
func TestReplayWaitsThroughIDNotFound(t *testing.T) {
	t.Parallel()
	file, rs := smallFrames(t, 20)
	sock := filepath.Join(t.TempDir(), "late.sock")
	refused := make(chan string, 100)
	other, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 1,
		OnRefuse: func(r string) {
			select {
			case refused <- r:
			default:
			}
		}})
	require.NoError(t, err)
	defer other.Close()
	res := make(chan result, 1)
	go func() {
		res <- inject(context.Background(), "-socket", sock, "-id", "3", "-wait", "30s", "-topspeed", file)
	}()
	for range 3 { // refused, and tried again
		select {
		case r := <-refused:
			require.Contains(t, r, "ID not found")
		case r := <-res:
			t.Fatalf("memifinject gave up: %+v", r)
		case <-time.After(procDeadline):
			t.Fatal("memifinject never tried")
		}
	}
	peer := newPeer(t, memifpcap.Config{Socket: sock, ID: 3})
	var r result
	select {
	case r = <-res:
	case <-time.After(procDeadline):
		t.Fatal("memifinject did not finish")
	}
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "memifinject: server refused the connection: ID not found; retrying for up to 30s (-wait)\n", r.stderr)
	s := parseSummary(t, r.stdout)
	require.Equal(t, uint64(20), s.successful)
	require.Equal(t, uint64(20), s.delivered)
	require.Zero(t, s.lost)
	peer.h.Close()
	got, _ := peer.received(t)
	requireFrames(t, rs, got)
}

// The summary's counts are exact: a peer that reads everything got every
// frame sent, nothing lost; a peer that reads nothing lost them all.
func TestSummaryCountsWhatThePeerTook(t *testing.T) {
	t.Parallel()
	file, rs := smallFrames(t, 50)
	t.Run("reads everything", func(t *testing.T) {
		t.Parallel()
		peer := newPeer(t, memifpcap.Config{})
		r := injectTo(t, peer, "-topspeed", file)
		requireOK(t, r)
		s := parseSummary(t, r.stdout)
		require.Equal(t, uint64(50), s.successful)
		require.Equal(t, uint64(50), s.delivered)
		require.Zero(t, s.lost)
		got, _ := peer.received(t)
		requireFrames(t, rs, got)
	})
	t.Run("reads nothing", func(t *testing.T) {
		t.Parallel()
		sock := filepath.Join(t.TempDir(), "deaf.sock")
		srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
		require.NoError(t, err)
		defer srv.Close()
		r := inject(context.Background(), "-socket", sock, "-topspeed", "-write-timeout", "300ms", file)
		require.Equal(t, 1, r.code, r.stderr)
		require.Equal(t, "memifinject: the peer took no frame for 300ms (-write-timeout) with 50 still in the ring: they are lost\n", r.stderr)
		s := parseSummary(t, r.stdout)
		require.Equal(t, uint64(50), s.successful)
		require.Zero(t, s.delivered)
		require.Equal(t, uint64(50), s.lost)
		require.Zero(t, srv.Stats().Packets)
	})
}

// A server memifinject tells each client it refuses.
func TestReplayServerTellsRefusals(t *testing.T) {
	t.Parallel()
	file, _ := smallFrames(t, 3)
	sock := filepath.Join(t.TempDir(), "secret.sock")
	p := start(t, "-role", "server", "-socket", sock, "-secret", "right", "-wait", "1h", file)
	p.waitOutput(t, "the socket", func(_, _ string) bool {
		_, err := os.Stat(sock)
		return err == nil
	})
	// The file is there from bind, a moment before listen: a connect in
	// between is refused, so the client tries until the server answers.
	_, err := memifpcap.Open(&memifpcap.Config{Socket: sock, Secret: "wrong", ConnectWait: procDeadline})
	require.ErrorContains(t, err, "Incorrect secret")
	p.waitOutput(t, "the refusal line", func(_, stderr string) bool {
		return strings.Contains(stderr, "memifinject: refused client: Incorrect secret (id 0, \"memifpcap\")\n")
	})
	p.signal(t, syscall.SIGTERM)
	require.Equal(t, 0, p.exit(t), p.stderr.String())
	require.Equal(t, fmt.Sprintf("memifinject: refused client: Incorrect secret (id 0, %q)\n"+
		"memifinject: memif %s id 0 (server): interrupted while waiting for a client: context canceled\n", "memifpcap", sock), p.stderr.String())
}

// requireTook checks the summary against the got frames a peer read while
// memifinject closed the link on it: every frame counted delivered was
// read, and nothing beyond what was sent. A peer reading at the moment of
// the close may still take frames that memifinject had to count as lost:
// memif does not tell when the peer has stopped reading.
func requireTook(t *testing.T, s parsed, got int) {
	t.Helper()
	require.LessOrEqual(t, s.delivered, uint64(got), "frames counted delivered that the peer never read")
	require.LessOrEqual(t, uint64(got), s.successful, "the peer read more than was sent")
}
