//go:build linux

package main

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/ring"
)

// A zero-copy client (VPP's, DPDK's) cannot seal its memory. One that
// shrinks it while memifdump holds a batch of its frames, not yet written,
// must not crash memifdump: the batch was copied out when it was read, is
// written whole, and the link ends with "Memory fault". The output is a
// FIFO the test does not read at first, so memifdump blocks in the middle
// of the batch, deterministically, until the memory is gone.
func TestUnsealedClientShrinksUnderTheSink(t *testing.T) {
	t.Parallel()
	p, sock, out := fifoServer(t)
	rfd := int(out.Fd())

	m, err := hostile.NewMemory(ring.Layout{CacheLine: ring.DefaultCacheLine(), Log2RingSize: 7,
		NumC2S: 1, NumS2C: 1, BufferSize: 2048}, false)
	require.NoError(t, err)
	defer m.Close()
	cl, err := hostile.Handshake(sock, 0, m.Offer(), true, 5*time.Second)
	require.NoError(t, err)
	defer cl.Close()

	// 40 frames of 2000 bytes (80 kB) are more than the FIFO holds (64 kiB):
	// memifdump reads them as one batch and blocks writing it.
	const frames, size = 40, 2000
	want := make([][]byte, frames)
	for i := range want {
		want[i] = bytes.Repeat([]byte{byte(i + 1)}, size)
		off := m.Buffer(ring.C2S, i)
		copy(m.Data[off:], want[i])
		m.C2S.SetDesc(uint16(i), ring.Desc{Length: size, Offset: off})
	}
	m.C2S.StoreHead(frames)
	_, err = unix.Write(m.C2SEv, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	require.NoError(t, err)
	p.waitFor(t, "a full FIFO", func() bool {
		n, err := unix.IoctlGetInt(rfd, unix.TIOCINQ)
		// A pipe holds 64 kiB, less what its pages leave unused.
		return err == nil && n >= 60<<10
	})
	require.Equal(t, uint16(0), m.C2S.Tail(), "memifdump still holds the batch")

	// The client takes its memory away under the held batch.
	require.NoError(t, m.Shrink(0))
	read := make(chan []byte, 1)
	go func() {
		require.NoError(t, unix.SetNonblock(rfd, false))
		b, _ := io.ReadAll(out)
		read <- b
	}()
	msg, err := cl.Expect(control.MsgDisconnect, procDeadline)
	require.NoError(t, err, p.stderr.String())
	require.Equal(t, "Memory fault: region shrunk under the mapping", msg.(control.Disconnect).Reason)
	p.waitStderr(t, "the peer's memory faulted")
	require.Equal(t, 0, p.interrupt(t), p.stderr.String())

	var b []byte
	select {
	case b = <-read:
	case <-time.After(procDeadline):
		t.Fatal("the FIFO never ended")
	}
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	for i := range want {
		data, _, err := r.ReadPacketData()
		require.NoError(t, err, "frame %d", i)
		require.Equal(t, want[i], data, "frame %d", i)
	}
	_, _, err = r.ReadPacketData()
	require.ErrorIs(t, err, io.EOF)
	require.Contains(t, p.stderr.String(), "40 packets captured\n")
}
