package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// These tests run memifperf as a user does: started before its peer,
// and stopped with SIGINT. Every wait selects on the process's exit (or
// the run's return) and on a generous deadline; none asserts a duration.

const procDeadline = 30 * time.Second

var builtPerf struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

func perfBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	builtPerf.once.Do(func() {
		dir, err := os.MkdirTemp("", "memifperf-bin")
		if err != nil {
			builtPerf.err = err
			return
		}
		builtPerf.bin = filepath.Join(dir, "memifperf")
		builtPerf.out, builtPerf.err = exec.Command("go", "build", "-o", builtPerf.bin, ".").CombinedOutput()
	})
	require.NoError(t, builtPerf.err, "go build: %s", builtPerf.out)
	return builtPerf.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtPerf.bin != "" {
		os.RemoveAll(filepath.Dir(builtPerf.bin))
	}
	os.Exit(code)
}

// lockedBuffer is a bytes.Buffer written by a process or run while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

type perfProc struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	exited         chan struct{}
	err            error
}

func startPerf(t *testing.T, args ...string) *perfProc {
	t.Helper()
	p := &perfProc{cmd: exec.Command(perfBinary(t), args...), exited: make(chan struct{})}
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

func (p *perfProc) waitStderr(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(procDeadline)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case <-p.exited:
			t.Fatalf("memifperf exited (%v) before saying %q\n%s", p.err, s, p.stderr.String())
		case <-deadline:
			t.Fatalf("memifperf did not say %q within %v\n%s", s, procDeadline, p.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// interrupt sends SIGINT and returns the exit status (-1: killed).
func (p *perfProc) interrupt(t *testing.T) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-p.exited:
	case <-time.After(procDeadline):
		t.Fatalf("memifperf still runs %v after SIGINT\n%s", procDeadline, p.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, p.err)
	return 0
}

// inProcess is memifperf's run in this process.
type inProcess struct {
	stdout, stderr lockedBuffer
	done           chan int
}

func runInProcess(args ...string) *inProcess {
	r := &inProcess{done: make(chan int, 1)}
	go func() { r.done <- run(context.Background(), args, &r.stdout, &r.stderr) }()
	return r
}

func (r *inProcess) wait(t *testing.T, what string) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(procDeadline):
		t.Fatalf("%s did not end within %v\n%s", what, procDeadline, r.stderr.String())
	}
	return -1
}

// SIGINT stops a generator whose sink keeps reading, a little slower
// than the generator writes, so that frames are in the ring at the
// signal: no error ("drain: context canceled" was one), and tx_pkts is
// exactly what the sink read (the frames in the ring reach it before the
// link closes, or are not counted as sent).
func TestSignalStopsTheGenerator(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "perf.sock")
	sink, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer sink.Close()
	read := make(chan uint64, 1)
	go func() {
		var n uint64
		for {
			if _, _, err := sink.ReadPacketData(); err != nil {
				read <- n
				return
			}
			if n++; n%16 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	gen := startPerf(t, "-role", "client", "-socket", sock, "-mode", "gen", "-duration", "1h", "-wait", "30s", "-size", "100")
	gen.waitStderr(t, "memifperf: link up")
	deadline := time.After(procDeadline)
	for sink.Stats().Packets < 5000 {
		select {
		case <-gen.exited:
			t.Fatalf("memifperf exited: %v\n%s", gen.err, gen.stderr.String())
		case <-deadline:
			t.Fatal("the sink got no frames")
		case <-time.After(5 * time.Millisecond):
		}
	}
	require.Equal(t, 0, gen.interrupt(t), gen.stderr.String())
	require.NotContains(t, gen.stderr.String(), "drain")
	require.NotContains(t, gen.stderr.String(), "context canceled")
	var got uint64
	select {
	case got = <-read:
	case <-time.After(procDeadline):
		t.Fatal("the sink is still reading after the generator left")
	}
	g := parseResult(t, gen.stdout.String())
	tx := uint64(num(t, g, "tx_pkts"))
	require.NotZero(t, tx)
	if strings.Contains(gen.stderr.String(), "never took") {
		// The sink was starved of CPU for 100 ms after the signal: the
		// frames it had not taken are not counted as sent. (One it was
		// reading just then may still have reached it.)
		t.Logf("generator: %s", gen.stderr.String())
		require.LessOrEqual(t, tx, got)
		return
	}
	require.Equal(t, got, tx, "every frame counted as sent was received, and only those")
}

// SIGINT while memifperf, a server, waits for its client: RESULT (of
// nothing) and exit 0, saying what it interrupted.
func TestSignalWhileWaitingForAClient(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "perf.sock")
	p := startPerf(t, "-role", "server", "-socket", sock, "-mode", "sink", "-wait", "1h")
	deadline := time.After(procDeadline)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("memifperf exited: %v\n%s", p.err, p.stderr.String())
		case <-deadline:
			t.Fatal("memifperf never listened")
		case <-time.After(5 * time.Millisecond):
		}
	}
	require.Equal(t, 0, p.interrupt(t), p.stderr.String())
	require.Equal(t, "memifperf: memif "+sock+" id 0 (server): interrupted while waiting for a client: context canceled\n", p.stderr.String())
	r := parseResult(t, p.stdout.String())
	require.Equal(t, "0", r["tx_pkts"])
	require.Equal(t, "0", r["rx_pkts"])
}

// SIGINT while a client waits for a server that is not there yet.
func TestSignalWhileWaitingForTheServer(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	p := startPerf(t, "-role", "client", "-socket", sock, "-mode", "gen", "-wait", "1h")
	p.waitStderr(t, "memifperf: no memif server on "+sock+" yet; waiting for up to 1h0m0s (-wait)\n")
	require.Equal(t, 0, p.interrupt(t), p.stderr.String())
	require.Contains(t, p.stderr.String(), "memifperf: memif: connect "+sock)
	require.Contains(t, p.stderr.String(), "interrupted")
	require.Equal(t, "0", parseResult(t, p.stdout.String())["tx_pkts"])
}

// memifperf honours -wait as a client: a server that answers "ID not
// found" first (as testpmd before its port starts; here a server of
// another id) and then serves our id is waited for, and every frame sent
// is received.
func TestPerfWaitsThroughIDNotFound(t *testing.T) {
	t.Parallel()
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
	gen := runInProcess("-role", "client", "-socket", sock, "-id", "3", "-mode", "gen", "-duration", "200ms", "-wait", "30s")
	for range 3 { // refused, and tried again
		select {
		case r := <-refused:
			require.Contains(t, r, "ID not found")
		case code := <-gen.done:
			t.Fatalf("memifperf gave up (%d): %s", code, gen.stderr.String())
		case <-time.After(procDeadline):
			t.Fatal("memifperf never tried")
		}
	}
	sink := runInProcess("-role", "server", "-socket", sock, "-id", "3", "-mode", "sink", "-duration", "1h", "-wait", "30s")
	require.Equal(t, 0, gen.wait(t, "the generator"), gen.stderr.String())
	require.Equal(t, 0, sink.wait(t, "the sink"), sink.stderr.String())
	require.True(t, strings.HasPrefix(gen.stderr.String(),
		"memifperf: server refused the connection: ID not found; retrying for up to 30s (-wait)\nmemifperf: link up"), gen.stderr.String())
	g, s := parseResult(t, gen.stdout.String()), parseResult(t, sink.stdout.String())
	require.Greater(t, num(t, g, "tx_pkts"), 0.0)
	require.Equal(t, g["tx_pkts"], s["rx_pkts"])
}
