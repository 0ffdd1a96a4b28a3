//go:build linux

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

	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// These tests run memifdump as a user does: started before its server,
// against a server that refuses or stalls, and stopped with SIGINT
// whatever it waits for. Every wait selects on the process's exit and on a
// generous deadline; none asserts a duration.

const procDeadline = 30 * time.Second

var builtDump struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// dumpBinary builds memifdump once for the package's tests.
func dumpBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	builtDump.once.Do(func() {
		dir, err := os.MkdirTemp("", "memifdump-bin")
		if err != nil {
			builtDump.err = err
			return
		}
		builtDump.bin = filepath.Join(dir, "memifdump")
		builtDump.out, builtDump.err = exec.Command("go", "build", "-o", builtDump.bin, ".").CombinedOutput()
	})
	require.NoError(t, builtDump.err, "go build: %s", builtDump.out)
	return builtDump.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDump.bin != "" {
		os.RemoveAll(filepath.Dir(builtDump.bin))
	}
	os.Exit(code)
}

// dumpProc is memifdump running as a process.
type dumpProc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

func startProc(t *testing.T, args ...string) *dumpProc {
	t.Helper()
	p := &dumpProc{cmd: exec.Command(dumpBinary(t), args...), exited: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
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

// waitFor waits until cond holds, failing if memifdump exits first or the
// deadline passes.
func (p *dumpProc) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(procDeadline)
	for !cond() {
		select {
		case <-p.exited:
			t.Fatalf("memifdump exited (%v) before %s\n%s", p.err, what, p.stderr.String())
		case <-deadline:
			t.Fatalf("no %s within %v\n%s", what, procDeadline, p.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (p *dumpProc) waitStderr(t *testing.T, s string) {
	t.Helper()
	p.waitFor(t, "stderr line "+s, func() bool { return strings.Contains(p.stderr.String(), s) })
}

// interrupt sends SIGINT and returns the exit status (-1: killed).
func (p *dumpProc) interrupt(t *testing.T) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-p.exited:
	case <-time.After(procDeadline):
		t.Fatalf("memifdump still runs %v after SIGINT\n%s", procDeadline, p.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, p.err)
	return 0
}

const noCounts = "0 packets captured\n0 packets received\n0 packets dropped\n"

// SIGINT while a client waits for a server that is not there yet: it was
// waiting (and said so), it stops at once, prints its counts, exit 0.
func TestSignalWhileWaitingForTheServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock, file := filepath.Join(dir, "nobody.sock"), filepath.Join(dir, "out.pcap")
	p := startProc(t, "-socket", sock, "-wait", "1h", "-w", file)
	p.waitStderr(t, "memifdump: no memif server on "+sock+" yet; waiting for up to 1h0m0s (-wait)\n")
	require.Equal(t, 0, p.interrupt(t), p.stderr.String())
	stderr := p.stderr.String()
	require.Contains(t, stderr, "memifdump: memif: connect "+sock)
	require.Contains(t, stderr, "interrupted")
	require.True(t, strings.HasSuffix(stderr, noCounts), stderr)
	require.NoFileExists(t, file, "nothing was captured")
}

// SIGINT while the server stalls the handshake: memifdump says it was
// interrupted, not that HELLO did not come.
func TestSignalDuringAStalledHandshake(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	l, err := hostile.Listen(sock)
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan *hostile.Conn, 1)
	go func() {
		if c, err := l.Accept(procDeadline); err == nil {
			accepted <- c
		}
	}()
	p := startProc(t, "-socket", sock, "-wait", "1h")
	select {
	case c := <-accepted:
		defer c.Close()
	case <-p.exited:
		t.Fatalf("memifdump exited: %v\n%s", p.err, p.stderr.String())
	case <-time.After(procDeadline):
		t.Fatal("memifdump never connected")
	}
	require.Equal(t, 0, p.interrupt(t), p.stderr.String())
	stderr := p.stderr.String()
	require.Contains(t, stderr, "interrupted")
	require.NotContains(t, stderr, "HELLO")
	require.True(t, strings.HasSuffix(stderr, noCounts), stderr)
}

// SIGINT while memifdump, a server, waits for its first client: the file
// is complete, with no frames.
func TestSignalWhileWaitingForAClient(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock, file := filepath.Join(dir, "srv.sock"), filepath.Join(dir, "out.pcapng")
	p := startProc(t, "-role", "server", "-socket", sock, "-w", file)
	p.waitStderr(t, "listening on")
	require.Equal(t, 0, p.interrupt(t), p.stderr.String())
	c := readCaptureFile(t, file)
	require.True(t, c.ng)
	require.Empty(t, c.records)
	requireTsharkAgrees(t, file, c)
	require.True(t, strings.HasSuffix(p.stderr.String(), noCounts), p.stderr.String())
}

// SIGINT while frames pour in (the reader is likely mid-batch when the
// Handle closes): the file is complete and holds exactly the frames
// memifdump says it captured, the first ones the client sent, in order.
func TestSignalMidStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock, file := filepath.Join(dir, "srv.sock"), filepath.Join(dir, "out.pcap")
	p := startProc(t, "-role", "server", "-socket", sock, "-w", file)
	p.waitStderr(t, "listening on")
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, WriteTimeout: -1, ReconnectInterval: -1, CloseLinger: -1})
	require.NoError(t, err)
	defer cli.Close()
	frames := udpFrames(t, 64)
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if cli.WritePacketData(frames[n%len(frames)]) != nil {
				return
			}
			n++
		}
	}()
	p.waitFor(t, "frames flowing", func() bool { return cli.Stats().TxPackets > 2000 })
	code := p.interrupt(t)
	close(stop)
	select {
	case <-sent:
	case <-time.After(procDeadline):
		t.Fatal("the client's writer did not stop")
	}
	require.Equal(t, 0, code, p.stderr.String())
	counts := statLines(t, p.stderr.String())
	c := readCaptureFile(t, file)
	require.Equal(t, counts["captured"], uint64(len(c.records)), "the file holds what memifdump says it captured")
	require.NotZero(t, len(c.records))
	for i, r := range c.records {
		require.Equal(t, frames[i%len(frames)], r.data, "frame %d", i)
	}
	requireTsharkAgrees(t, file, c)
}

// A server that starts slowly, as testpmd does: "ID not found" first (a
// server of another id on the socket), then our id. memifdump as a client
// says once that it retries, connects within -wait and captures exactly
// what is sent.
func TestDumpWaitsThroughIDNotFound(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	file := filepath.Join(t.TempDir(), "late.pcap")
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
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"-socket", sock, "-id", "3", "-wait", "30s", "-c", "20", "-w", file}, &stdout, &stderr)
	}()
	for range 3 { // refused, and tried again
		select {
		case r := <-refused:
			require.Contains(t, r, "ID not found")
		case code := <-done:
			t.Fatalf("memifdump gave up (%d): %s", code, stderr.String())
		case <-time.After(procDeadline):
			t.Fatal("memifdump never tried")
		}
	}
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 3})
	require.NoError(t, err)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), procDeadline)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	frames := udpFrames(t, 20)
	inject(t, srv, frames)
	select {
	case code := <-done:
		require.Equal(t, 0, code, stderr.String())
	case <-time.After(procDeadline):
		t.Fatalf("memifdump did not stop after -c 20\n%s", stderr.String())
	}
	require.True(t, strings.HasPrefix(stderr.String(),
		"memifdump: server refused the connection: ID not found; retrying for up to 30s (-wait)\nlistening on memif "+sock+" id 3 (client)"), stderr.String())
	require.Equal(t, 1, strings.Count(stderr.String(), "ID not found"), stderr.String())
	c := readCaptureFile(t, file)
	requireFrames(t, frames, c)
	require.Equal(t, uint64(20), statLines(t, stderr.String())["captured"])
}

// A memifdump server prints one line for each client it refuses, with the
// reason, as tcpdump users expect to see why nothing arrives.
func TestDumpServerTellsRefusals(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	r := startDump(t, "-role", "server", "-socket", sock, "-secret", "right")
	for range 2 {
		_, err := memifpcap.Open(&memifpcap.Config{Socket: sock, Secret: "wrong"})
		require.EqualError(t, err, "memif: connect "+sock+" id 0: server refused the connection: Incorrect secret")
	}
	waitFor(t, "two refusal lines", func() bool {
		return strings.Count(r.stderr.String(), "memifdump: refused client: Incorrect secret (id 0, \"memifpcap\")\n") == 2
	})
	require.Equal(t, 0, r.stop(t))
}

// A client that waits cannot cure a wrong secret: memifdump says so once
// and fails at once, whatever -wait is.
func TestDumpWrongSecretFailsAtOnce(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, Secret: "right"})
	require.NoError(t, err)
	defer srv.Close()
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"-socket", sock, "-secret", "wrong", "-wait", "1h"}, &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Equal(t, "memifdump: memif: connect "+sock+" id 0: server refused the connection: Incorrect secret\n", stderr.String())
}
