package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// capturesDir holds the project's recorded captures.
const capturesDir = "../testdata/pcaps"

// Bounds of the steps of a run. A round trip of a shipped capture takes
// milliseconds; these only stop a hang from eating the test binary's
// timeout, and leave a goroutine dump (SIGQUIT) behind.
const (
	startTimeout = 10 * time.Second // until a process is ready (start line, listening socket)
	runTimeout   = 20 * time.Second // until a process exits by itself
	quitGrace    = 2 * time.Second  // after SIGQUIT, before SIGKILL
)

// captures lists every shipped capture, pcap and pcapng, in name order; the
// test fails if there is none.
func captures(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join(capturesDir, pat))
		require.NoError(t, err)
		files = append(files, m...)
	}
	sort.Strings(files)
	require.NotEmpty(t, files, "no captures (*.pcap, *.pcapng) in %s", capturesDir)
	return files
}

// capture returns the path of the shipped capture name; the test fails if
// it is not there.
func capture(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(capturesDir, name)
	_, err := os.Stat(p)
	require.NoError(t, err, "shipped capture %s", name)
	return p
}

// frame is one record of a capture file.
type frame struct {
	data []byte
	wire int // the original length
}

// pcapngMagic starts every pcapng file (the Section Header Block's type).
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// readFrames reads every record of a pcap or pcapng file (told apart by
// content, as the tools do) with pcapgo.
func readFrames(t *testing.T, name string) []frame {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	r := bufio.NewReader(f)
	magic, err := r.Peek(4)
	require.NoError(t, err, "%s: shorter than a capture header", name)
	var next func() ([]byte, int, error)
	if bytes.Equal(magic, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		require.NoError(t, err, "%s: pcapng header", name)
		next = func() ([]byte, int, error) {
			d, ci, err := ng.ReadPacketData()
			return d, ci.Length, err
		}
	} else {
		pr, err := pcapgo.NewReader(r)
		require.NoError(t, err, "%s: pcap header", name)
		next = func() ([]byte, int, error) {
			d, ci, err := pr.ReadPacketData()
			return d, ci.Length, err
		}
	}
	var frames []frame
	for {
		d, wire, err := next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		require.NoError(t, err, "%s: record %d", name, len(frames)+1)
		frames = append(frames, frame{data: d, wire: wire})
	}
}

// readAll reads the frames of several files, one after the other.
func readAll(t *testing.T, names ...string) []frame {
	t.Helper()
	var all []frame
	for _, n := range names {
		fs := readFrames(t, n)
		require.NotEmpty(t, fs, "%s has no frames", n)
		all = append(all, fs...)
	}
	return all
}

// requireSameFrames checks that got holds exactly want's frames, byte for
// byte, in order, with the same original lengths.
func requireSameFrames(t *testing.T, want, got []frame, what string) {
	t.Helper()
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		if !bytes.Equal(w.data, g.data) {
			at := -1
			for j := range min(len(w.data), len(g.data)) {
				if w.data[j] != g.data[j] {
					at = j
					break
				}
			}
			t.Fatalf("%s: frame %d of %d: %d bytes, want %d (first differing byte %d)", what, i+1, len(want), len(g.data), len(w.data), at)
		}
		require.Equal(t, w.wire, g.wire, "%s: frame %d: original length", what, i+1)
	}
	require.Equal(t, len(want), len(got), "%s: frame count", what)
}

func totalBytes(fs []frame) int {
	n := 0
	for _, f := range fs {
		n += len(f.data)
	}
	return n
}

// tsharkCount returns how many packets tshark reads from name, or -1 when
// tshark is not installed. tshark must read the whole file without error.
func tsharkCount(t *testing.T, name string) int {
	t.Helper()
	bin, err := exec.LookPath("tshark")
	if err != nil {
		return -1
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "-n", "-r", name, "-T", "fields", "-e", "frame.number")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = quitGrace
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(runTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tshark -r %s: no exit after %v", name, runTimeout)
	}
	require.NoError(t, err, "tshark -r %s: %s", name, stderr.Bytes())
	// The only complaint allowed is about running as root.
	for l := range strings.Lines(stderr.String()) {
		if !strings.HasPrefix(l, "Running as user") {
			t.Errorf("tshark -r %s: %s", name, strings.TrimSpace(l))
		}
	}
	n := 0
	for l := range strings.Lines(stdout.String()) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		n++
		require.Equal(t, strconv.Itoa(n), l, "tshark -r %s: frame numbers", name)
	}
	return n
}

// requireTsharkCount checks that tshark counts want packets in name; it
// only logs when tshark is absent.
func requireTsharkCount(t *testing.T, name string, want int) {
	t.Helper()
	n := tsharkCount(t, name)
	if n < 0 {
		t.Logf("tshark not installed: not checking that it reads %s", filepath.Base(name))
		return
	}
	require.Equal(t, want, n, "packets tshark reads in %s", filepath.Base(name))
}

// listening reports whether a unix socket named path listens (a row of
// /proc/net/unix with __SO_ACCEPTCON in its flags).
func listening(path string) (bool, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[7] != path {
			continue
		}
		if flags, err := strconv.ParseUint(fs[3], 16, 32); err == nil && flags&0x10000 != 0 {
			return true, nil
		}
	}
	return false, sc.Err()
}

// waitListening waits until a server listens on path, so that a client
// started next connects at once instead of after its retry interval.
func waitListening(t *testing.T, path string, also ...*proc) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		ok, err := listening(path)
		require.NoError(t, err)
		if ok {
			return
		}
		for _, p := range also {
			if p.exited() {
				t.Fatalf("%s exited (%v) before %s listened\n%s", p.name, p.err, path, p.output())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nobody listens on %s after %v", path, startTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer collects a process's output; readers may look while it writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a running command. Cleanup kills it if it is still running, so
// that no test leaves a process behind, even when it fails half-way; on
// Linux it also dies with the test binary (see procAttr).
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error // cmd.Wait's, once done is closed
}

// start runs bin with args; name labels it in messages.
func start(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = procAttr()
	require.NoError(t, p.cmd.Start(), "start %s", name)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.stop()
			t.Logf("%s was still running: killed\n%s", p.name, p.output())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGQUIT (a Go program dumps its goroutines to
// stderr), then SIGKILL, and waits for it.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
		return
	case <-time.After(quitGrace):
	}
	p.cmd.Process.Kill()
	<-p.done
}

// output is what the process printed, for failure messages.
func (p *proc) output() string {
	return "--- " + p.name + " stdout:\n" + p.stdout.String() + "--- " + p.name + " stderr:\n" + p.stderr.String()
}

// wait waits up to d for the process to exit by itself and returns its exit
// code; it fails the test if the process is still running then (and stops
// it).
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.stop()
		t.Fatalf("%s: no exit after %v\n%s", p.name, d, p.output())
	}
	if p.err == nil {
		return 0
	}
	var ee *exec.ExitError
	require.ErrorAs(t, p.err, &ee, "%s", p.name)
	return ee.ExitCode()
}

// requireExit0 waits for the process to exit by itself, with status 0.
func (p *proc) requireExit0(t *testing.T, d time.Duration) {
	t.Helper()
	if code := p.wait(t, d); code != 0 {
		t.Fatalf("%s: exit status %d, want 0\n%s", p.name, code, p.output())
	}
}

// waitStderr waits until the process has printed line (a whole line) on
// stderr; it fails if the process exits first.
func (p *proc) waitStderr(t *testing.T, line string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if hasLine(p.stderr.String(), line) {
			return
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before printing %q\n%s", p.name, p.err, line, p.output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q on stderr after %v\n%s", p.name, line, d, p.output())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hasLine reports whether s holds line as a whole line.
func hasLine(s, line string) bool {
	for l := range strings.Lines(s) {
		if strings.TrimRight(l, "\n") == line {
			return true
		}
	}
	return false
}
