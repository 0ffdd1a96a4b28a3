//go:build linux

package memifpcap_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/ring"
)

// A client whose memory is not sealed (VPP's and DPDK's zero-copy
// clients) is served by default; if it shrinks that memory under the
// server while the link is up, whatever the server does next faults on
// it. Each case ends that link with "Memory fault" (the call returns an
// error wrapping ErrLinkDown) and the process, and the server, live on.
func TestHostileShrinkMidStream(t *testing.T) {
	read := func(f func(h *memifpcap.Handle) error) func(*testing.T, *memifpcap.Handle) error {
		return func(_ *testing.T, h *memifpcap.Handle) error { return f(h) }
	}
	batch := func(poll bool) func(*testing.T, *memifpcap.Handle) error {
		return func(t *testing.T, h *memifpcap.Handle) error {
			ms := make([]memifpcap.Message, 4)
			if poll {
				_, err := h.PollBatch(ms)
				return err
			}
			_, err := h.ReadBatch(ms)
			return err
		}
	}
	cases := []struct {
		name string
		// wrote: the server wrote a frame to the client before the
		// shrink (so that Drain and Close have something to wait for).
		wrote bool
		op    func(*testing.T, *memifpcap.Handle) error
	}{
		{"ReadPacketData", false, read(func(h *memifpcap.Handle) error { _, _, err := h.ReadPacketData(); return err })},
		{"ZeroCopyReadPacketData", false, read(func(h *memifpcap.Handle) error { _, _, err := h.ZeroCopyReadPacketData(); return err })},
		{"ReadPacketDataTo", false, read(func(h *memifpcap.Handle) error { _, err := h.ReadPacketDataTo(make([]byte, 2048)); return err })},
		{"ReadBatch", false, batch(false)},
		{"PollBatch", false, batch(true)},
		{"WritePacketData", false, read(func(h *memifpcap.Handle) error { return h.WritePacketData(frame(1, 100)) })},
		{"WriteBatch", false, read(func(h *memifpcap.Handle) error {
			_, err := h.WriteBatch([]memifpcap.Message{{Buffers: [][]byte{frame(1, 100)}}})
			return err
		})},
		{"FrameWriter", false, read(func(h *memifpcap.Handle) error { _, err := h.NewFrameWriter().AppendBytes(100); return err })},
		{"Drain", true, func(t *testing.T, h *memifpcap.Handle) error {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			return h.Drain(ctx)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, sock := hostileServer(t)
			m := hostileMemory(t, false)
			cl := connected(t, srv, sock, m)
			// The link works: one frame each way.
			put(m, 0, []byte("before the shrink"), 0)
			put(m, 1, []byte("never read"), 0)
			m.C2S.StoreHead(2)
			data, _, err := srv.ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, []byte("before the shrink"), data)
			if c.wrote {
				offerS2C(m, 4)
				require.NoError(t, srv.WritePacketData(frame(0, 100)))
			}

			require.NoError(t, m.Shrink(0))
			err = c.op(t, srv)
			require.ErrorIs(t, err, memifpcap.ErrLinkDown)
			msg, err := cl.Expect(control.MsgDisconnect, hostileStep)
			require.NoError(t, err)
			require.Equal(t, "Memory fault: region shrunk under the mapping", msg.(control.Disconnect).Reason)
			waitDisconnects(t, srv, 1)
			stillServes(t, srv, sock)
		})
	}
}

// offerS2C hands the server n buffers to write into, as a client's refill
// does.
func offerS2C(m *hostile.Memory, n int) {
	for i := range n {
		m.S2C.SetDesc(uint16(i), ring.Desc{Offset: m.Buffer(ring.S2C, i), Length: m.Layout.BufferSize})
	}
	m.S2C.StoreHead(uint16(n))
}

// Close of a server whose client shrank its memory: the linger and the
// teardown touch it; Close returns, the client is told why.
func TestHostileShrinkThenClose(t *testing.T) {
	t.Parallel()
	srv, sock := hostileServer(t)
	m := hostileMemory(t, false)
	cl := connected(t, srv, sock, m)
	put(m, 0, []byte("held"), 0)
	m.C2S.StoreHead(1)
	_, _, err := srv.ZeroCopyReadPacketData() // a slot held at Close
	require.NoError(t, err)
	offerS2C(m, 4)
	require.NoError(t, srv.WritePacketData(frame(0, 100))) // something to linger for
	require.NoError(t, m.Shrink(0))
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	require.NoError(t, result(t, closed, 20*time.Second, "Close"))
	msg, err := cl.Expect(control.MsgDisconnect, hostileStep)
	require.NoError(t, err)
	require.Equal(t, "Memory fault: region shrunk under the mapping", msg.(control.Disconnect).Reason)
}

// A region shrunk before CONNECT is refused by the size check; an unsealed
// one is accepted by default and refused with RequireSealedRegions.
func TestUnsealedRegions(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	strict, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RequireSealedRegions: true,
		HandshakeTimeout: 2 * time.Second})
	require.NoError(t, err)
	defer strict.Close()
	refused(t, sock, hostileMemory(t, false).Offer(), true, "not sealed with F_SEAL_SHRINK")

	srv, sock2 := hostileServer(t)
	m := hostileMemory(t, false)
	connected(t, srv, sock2, m)
	put(m, 0, []byte("unsealed but well-behaved"), 0)
	m.C2S.StoreHead(1)
	data, _, err := srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, []byte("unsealed but well-behaved"), data)
	require.False(t, srv.SealedMemory())

	sock3 := sockPath(t)
	srv3, cli := pair(t, memifpcap.Config{Socket: sock3}, memifpcap.Config{Socket: sock3})
	require.True(t, srv3.SealedMemory())
	require.True(t, cli.SealedMemory())
}

// CopyIfUnsealed copies a batch only when the peer can take its memory
// away: a sealed client's views are left as they are; an unsealed
// client's frames are copied and survive the shrink; a shrink before the
// copy, even after the link went down, ends that link, not the process.
func TestCopyIfUnsealed(t *testing.T) {
	frames := [][]byte{[]byte("first frame"), []byte("second, longer frame")}
	// readTwo connects a hostile client with the given memory, has it
	// send frames, and reads them as one batch.
	readTwo := func(t *testing.T, sealed bool) (*memifpcap.Handle, string, *hostile.Memory, *hostile.Client, []memifpcap.Message) {
		srv, sock := hostileServer(t)
		m := hostileMemory(t, sealed)
		cl := connected(t, srv, sock, m)
		for i, f := range frames {
			put(m, uint16(i), f, 0)
		}
		m.C2S.StoreHead(uint16(len(frames)))
		ms := make([]memifpcap.Message, 4)
		n, err := srv.ReadBatch(ms)
		require.NoError(t, err)
		require.Equal(t, len(frames), n)
		return srv, sock, m, cl, ms[:n]
	}
	shrunkEnds := func(t *testing.T, srv *memifpcap.Handle, ms []memifpcap.Message) {
		_, err := srv.CopyIfUnsealed(ms, nil)
		require.ErrorIs(t, err, memifpcap.ErrLinkDown)
		require.Contains(t, err.Error(), "the peer's memory faulted")
	}

	t.Run("sealed", func(t *testing.T) {
		t.Parallel()
		srv, _, _, _, ms := readTwo(t, true)
		view := &ms[1].Buffers[0][0]
		buf, err := srv.CopyIfUnsealed(ms, nil)
		require.NoError(t, err)
		require.Nil(t, buf)
		require.Same(t, view, &ms[1].Buffers[0][0], "a sealed batch is not copied")
		require.True(t, srv.SealedMemory())
	})
	t.Run("unsealed", func(t *testing.T) {
		t.Parallel()
		srv, sock, m, cl, ms := readTwo(t, false)
		buf, err := srv.CopyIfUnsealed(ms, make([]byte, 0, 8))
		require.NoError(t, err)
		require.Equal(t, len(frames[0])+len(frames[1]), len(buf))
		require.NoError(t, m.Shrink(0))
		for i, f := range frames {
			require.Len(t, ms[i].Buffers, 1)
			require.Equal(t, f, ms[i].Buffers[0], "frame %d after the shrink", i)
		}
		// The library's next access to the shrunk memory ends the link.
		_, err = srv.ReadBatch(ms)
		require.ErrorIs(t, err, memifpcap.ErrLinkDown)
		msg, err := cl.Expect(control.MsgDisconnect, hostileStep)
		require.NoError(t, err)
		require.Equal(t, "Memory fault: region shrunk under the mapping", msg.(control.Disconnect).Reason)
		waitDisconnects(t, srv, 1)
		stillServes(t, srv, sock)
	})
	t.Run("shrunk before the copy", func(t *testing.T) {
		t.Parallel()
		srv, sock, m, cl, ms := readTwo(t, false)
		require.NoError(t, m.Shrink(0))
		shrunkEnds(t, srv, ms)
		msg, err := cl.Expect(control.MsgDisconnect, hostileStep)
		require.NoError(t, err)
		require.Equal(t, "Memory fault: region shrunk under the mapping", msg.(control.Disconnect).Reason)
		waitDisconnects(t, srv, 1)
		stillServes(t, srv, sock)
	})
	t.Run("link down, then shrunk", func(t *testing.T) {
		t.Parallel()
		srv, sock, m, cl, ms := readTwo(t, false)
		cl.Close() // the peer leaves; its memory stays pinned for ms
		waitDisconnects(t, srv, 1)
		// A good client takes its place before the copy.
		good, err := memifpcap.Open(&memifpcap.Config{Socket: sock, ReadTimeout: 3 * time.Second})
		require.NoError(t, err)
		defer good.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.WaitLinkUp(ctx))
		require.NoError(t, m.Shrink(0))
		shrunkEnds(t, srv, ms)
		// The fault ended the dead link's session, not the new one.
		transferSkippingLinkDown(t, good, srv, 3)
		transferSkippingLinkDown(t, srv, good, 3)
		require.Equal(t, uint64(1), srv.Stats().Disconnects, "the fault of a dead link must not end the next one")
	})
}
