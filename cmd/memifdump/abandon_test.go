//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// A reader of memifdump's output that stops reading without closing it (a
// FIFO Wireshark no longer reads, a stalled pipe) must not keep memifdump
// from stopping: SIGINT ends it, saying the last frames were not written.
func TestSignalWhileTheOutputIsNotRead(t *testing.T) {
	t.Parallel()
	p, sock, _ := fifoServer(t)
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, WriteTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer cli.Close()
	frame := make([]byte, 1500)
	// Until the FIFO is full, memifdump blocked on it, and the ring full
	// behind it.
	p.waitFor(t, "a full ring", func() bool {
		err := cli.WritePacketData(frame)
		if errors.Is(err, memifpcap.ErrTimeout) {
			return true
		}
		if errors.Is(err, memifpcap.ErrLinkDown) {
			return false // a loaded machine: the client reconnects
		}
		require.NoError(t, err)
		return false
	})
	require.Equal(t, 0, p.interrupt(t), p.stderr.String())
	require.Contains(t, p.stderr.String(), "memifdump: stopped while the output was not being read: the last frames were not written\n")
}

// fifoServer starts memifdump as a server writing a pcap, one record at a
// time (-U), into a FIFO whose reading end the test holds open without
// reading (so memifdump's open returns): the output blocks once the FIFO
// is full. It returns the process, the socket, and the reading end.
func fifoServer(t *testing.T) (*dumpProc, string, *os.File) {
	t.Helper()
	dir := t.TempDir()
	sock, fifo := filepath.Join(dir, "srv.sock"), filepath.Join(dir, "out.pcap")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	p := startProc(t, "-role", "server", "-socket", sock, "-w", fifo, "-U")
	rfd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	out := os.NewFile(uintptr(rfd), fifo)
	t.Cleanup(func() { out.Close() })
	p.waitStderr(t, "listening on")
	return p, sock, out
}
