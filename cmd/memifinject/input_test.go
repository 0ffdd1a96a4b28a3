//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// The bad files of issue 10, item 4: each refused before anything is
// sent, with the file and the packet named.
func TestReplayRefusesIssue10Files(t *testing.T) {
	dir := t.TempDir()
	le := binary.LittleEndian
	ok := frame(1, 64)
	file := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	ng := func() *ngFile { return newNgFile(le).idb(1, 0) }
	cut := ng().add(ok).add(ok).buf.Bytes()
	for _, c := range []struct {
		name, file, want string
	}{
		{"epb claiming 4 GiB", file("epb.pcapng", ng().epb(0, 0, 0xffffffff, 0xffffffff, ok[:60]).buf.Bytes()),
			": packet 1: pcapng block at byte 48: captured length 4294967295 does not fit its 92-byte block"},
		{"spb claiming 300 MiB", file("spb.pcapng", ng().spb(300<<20, ok).buf.Bytes()),
			": packet 1: pcapng block at byte 48: simple packet block of 80 bytes cannot hold the 314572800 bytes it claims (original length 314572800, snap length 0)"},
		{"block length not a multiple of 4", file("odd.pcapng", ng().add(ok).blockLen(6, make([]byte, 30), 42).buf.Bytes()),
			": pcapng block at byte 144 (after packet 1): block type 0x6 has an impossible total length 42"},
		{"pcap second record 300 MiB", file("big.pcap", newPcapFile(le, false, 1).add(ok).rec(1, 2, 300<<20, 300<<20, ok).buf.Bytes()),
			": packet 2: truncated record: it holds 314572800 bytes, the file ends 64 bytes into it"},
		{"pcapng cut short", file("cut.pcapng", cut[:len(cut)-50]),
			": pcapng block at byte 144 (after packet 1): truncated block: 96 bytes long, the file ends 46 bytes into it"},
		{"link type 257", file("lt257.pcap", newPcapFile(le, false, 257).add(ok).buf.Bytes()),
			": link type 257 does not match -mode ethernet, which carries EN10MB (Ethernet)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPeer(t, memifpcap.Config{})
			r := injectTo(t, p, c.file)
			require.Equal(t, 1, r.code, r.stderr)
			require.Equal(t, "memifinject: "+c.file+c.want+"\n", r.stderr)
			p.untouched(t)
		})
	}
}

// A pcap whose link-type field carries FCS bits (0x14000001: a 2-byte
// FCS) is Ethernet: the frames are sent without their FCS.
func TestReplayStripsFCS(t *testing.T) {
	le := binary.LittleEndian
	f := newPcapFile(le, false, 0x14000001)
	for i := range 3 {
		f.add(append(frame(i, 64), 0xfc, 0x5a))
	}
	path := filepath.Join(t.TempDir(), "fcs.pcap")
	require.NoError(t, os.WriteFile(path, f.buf.Bytes(), 0o644))
	p := newPeer(t, memifpcap.Config{})
	requireOK(t, injectTo(t, p, path))
	got, _ := p.received(t)
	require.Len(t, got, 3)
	for i, g := range got {
		require.Equal(t, frame(i, 64), g)
	}
}

func mkfifo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return path
}

// endlessWriter writes a pcap into a FIFO, frame after frame, until stop
// is closed or the reader goes away; written counts the bytes.
type endlessWriter struct {
	stop    chan struct{}
	done    chan error
	written atomic.Int64
	frames  atomic.Int64
}

func writeEndless(t *testing.T, fifo string, limit int) *endlessWriter {
	w := &endlessWriter{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			w.done <- err
			return
		}
		defer f.Close()
		bw := bufio.NewWriterSize(f, 64<<10)
		hdr := newPcapFile(binary.LittleEndian, false, 1).buf.Bytes()
		if _, err := bw.Write(hdr); err != nil {
			w.done <- err
			return
		}
		w.written.Add(int64(len(hdr)))
		var rec [16]byte
		for i := 0; limit == 0 || i < limit; i++ {
			if limit == 0 {
				select {
				case <-w.stop:
					w.done <- bw.Flush()
					return
				default:
				}
			}
			data := frame(i, 1500)
			binary.LittleEndian.PutUint32(rec[0:], uint32(i))
			binary.LittleEndian.PutUint32(rec[8:], uint32(len(data)))
			binary.LittleEndian.PutUint32(rec[12:], uint32(len(data)))
			bw.Write(rec[:])
			if _, err := bw.Write(data); err != nil {
				w.done <- err
				return
			}
			w.written.Add(int64(16 + len(data)))
			w.frames.Add(1)
		}
		if err := bw.Flush(); err != nil {
			w.done <- err
			return
		}
		// Stay open, silent, until told to stop: the reader blocks.
		<-w.stop
		w.done <- nil
	}()
	return w
}

// waitCond polls cond until it holds, failing at the deadline or as soon
// as one of the other sides ends.
func waitCond(t *testing.T, what string, deadline time.Duration, cond func() bool, ends ...<-chan struct{}) {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		for _, e := range ends {
			select {
			case <-e:
				if cond() {
					return
				}
				t.Fatalf("waiting for %s: the other side ended first", what)
			default:
			}
		}
		select {
		case <-timer.C:
			t.Fatalf("waiting for %s: not after %v", what, deadline)
		case <-tick.C:
		}
	}
}

func buildInject(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "memifinject")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// inFIFOOpen reports whether a thread of process pid sleeps in the
// kernel's FIFO open, waiting for a writer.
func inFIFOOpen(t *testing.T, pid int) bool {
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/wchan")
	if err != nil || len(tasks) == 0 {
		t.Skip("no /proc/PID/task/*/wchan")
	}
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "fifo") || strings.Contains(string(b), "partner") {
			return true
		}
	}
	return false
}

// vmHWM is a process's peak resident set, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Skip("no VmHWM")
	return 0
}

// A FIFO is streamed: frames go out while the writer is still writing an
// endless capture, and memifinject's memory stays bounded however much
// went through. Then SIGINT stops it (summary, status 0) although its read
// is blocked on the silent FIFO. And standard input is read as "-".
func TestReplayStreamsAFIFO(t *testing.T) {
	bin := buildInject(t)

	t.Run("endless", func(t *testing.T) {
		fifo := mkfifo(t)
		w := writeEndless(t, fifo, 0)
		defer close(w.stop)
		p := newPeer(t, memifpcap.Config{})
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "-socket", p.sock, "-topspeed", fifo)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		defer func() {
			select {
			case <-exited:
			default:
				cmd.Process.Kill()
				<-exited
			}
		}()
		writerDone := make(chan struct{})
		go func() {
			// Only for the waits below: the writer ending first is a failure.
			for w.written.Load() >= 0 {
				select {
				case <-exited:
					close(writerDone)
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		// 64 MiB through, the writer still writing: the frames went out
		// as they came, not after the end of the input.
		const through = 64 << 20
		waitCond(t, "64 MiB written into the FIFO and frames sent", 120*time.Second, func() bool {
			return w.written.Load() >= through && p.count() >= 1000
		}, exited, writerDone)
		hwm := vmHWM(t, cmd.Process.Pid)
		t.Logf("%d MiB through the FIFO, %d frames sent; memifinject's peak RSS %d MiB", w.written.Load()>>20, p.count(), hwm>>20)
		require.Less(t, hwm, int64(48<<20), "memifinject's peak RSS after %d MiB through a FIFO", w.written.Load()>>20)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Fatal("memifinject still running 20 s after SIGINT")
		}
		require.NoError(t, waitErr, "stderr: %s", stderr.String())
		got, _ := p.received(t)
		s := parseSummary(t, stdout.String())
		require.Equal(t, uint64(len(got)), s.packets)
		for i, g := range got[:100] {
			require.Equal(t, frame(i, 1500), g, "frame %d", i)
		}
	})

	t.Run("SIGINT while the read blocks", func(t *testing.T) {
		fifo := mkfifo(t)
		// batchSize+8 frames, then silence: the replay sends a full
		// batch, then the last 8 when its read of the FIFO would wait
		// (a live pipe's frames do not wait for the next ones), and
		// SIGINT ends the blocked read.
		w := writeEndless(t, fifo, batchSize+8)
		defer close(w.stop)
		p := newPeer(t, memifpcap.Config{})
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "-socket", p.sock, "-topspeed", fifo)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		defer func() {
			select {
			case <-exited:
			default:
				cmd.Process.Kill()
				<-exited
			}
		}()
		waitCond(t, "every frame sent while the read blocks", 30*time.Second, func() bool { return p.count() >= batchSize+8 }, exited)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Fatal("memifinject still blocked on the FIFO 20 s after SIGINT")
		}
		require.NoError(t, waitErr, "stderr: %s", stderr.String())
		require.Empty(t, stderr.String())
		got, _ := p.received(t)
		require.Len(t, got, batchSize+8)
		require.Equal(t, uint64(batchSize+8), parseSummary(t, stdout.String()).packets)
	})

	t.Run("SIGINT while waiting for a writer", func(t *testing.T) {
		fifo := mkfifo(t) // nobody writes: the open blocks
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "-socket", filepath.Join(t.TempDir(), "none.sock"), fifo)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		defer func() {
			select {
			case <-exited:
			default:
				cmd.Process.Kill()
				<-exited
			}
		}()
		// No output to wait for: wait until a thread sleeps in the
		// FIFO's open (its handler for SIGINT is installed by then).
		waitCond(t, "memifinject blocked opening the FIFO", 20*time.Second, func() bool {
			return inFIFOOpen(t, cmd.Process.Pid)
		}, exited)
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Fatal("memifinject still waiting for a writer 20 s after SIGINT")
		}
		require.Contains(t, stderr.String(), fifo+": interrupted while waiting for a writer")
	})

	t.Run("stdin", func(t *testing.T) {
		f := newPcapFile(binary.LittleEndian, false, 1)
		for i := range 20 {
			f.add(frame(i, 100))
		}
		p := newPeer(t, memifpcap.Config{})
		cmd := exec.Command(bin, "-socket", p.sock, "-topspeed", "-")
		cmd.Stdin = bytes.NewReader(f.buf.Bytes())
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		got, _ := p.received(t)
		require.Len(t, got, 20)
		for i, g := range got {
			require.Equal(t, frame(i, 100), g)
		}
	})
}

// A FIFO can be read once: -loop 2 is refused before a frame is sent,
// not after a first pass.
func TestReplayFIFOLoopRefused(t *testing.T) {
	fifo := mkfifo(t)
	w := writeEndless(t, fifo, 5)
	p := newPeer(t, memifpcap.Config{})
	res := make(chan result, 1)
	go func() { res <- injectTo(t, p, "-topspeed", "-loop", "2", fifo) }()
	var r result
	select {
	case r = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("memifinject still running 30 s after it read the FIFO's header")
	}
	close(w.stop)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, fifo+": is a pipe or FIFO, which can be read only once")
	p.untouched(t)
	select {
	case err := <-w.done:
		if err != nil && !errors.Is(err, syscall.EPIPE) {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not end")
	}
}
