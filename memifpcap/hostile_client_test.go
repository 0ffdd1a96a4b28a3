//go:build linux

package memifpcap_test

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/ring"
)

// A client Handle against a hostile server (internal/hostile).

// TestHostileServerHandshake: Open fails with an error naming the problem,
// never hangs past the handshake timeout, and leaves nothing behind.
func TestHostileServerHandshake(t *testing.T) {
	t.Parallel()
	badVersion := hostile.GoodHello()
	badVersion.MinVersion, badVersion.MaxVersion = 0x0300, 0x0300
	noRings := hostile.GoodHello()
	noRings.MaxLog2RingSize = 0
	tests := []struct {
		name  string
		hello []byte // sent instead of HELLO; nil: say nothing
		want  string
	}{
		{"HELLO of 64 bytes", hostile.Raw(control.MsgHello)[:64], "invalid message size"},
		{"unknown type", hostile.Raw(0x4242), "unknown message type"},
		{"ACK instead of HELLO", hostile.Raw(control.MsgAck), "expected HELLO"},
		{"max_log2_ring_size 200", hostile.Raw(control.MsgHello, append(make([]byte, 42), 200)...), "max_log2_ring_size"},
		{"version 3", marshal(t, badVersion), "versions 0x0300..0x0300"},
		{"no ring allowed", marshal(t, noRings), "max_log2_ring_size 0"},
		{"stalls", nil, "no HELLO from the server"},
	}
	for _, tt := range tests {
		sock := sockPath(t)
		srv, err := hostile.Listen(sock)
		require.NoError(t, err)
		go func() {
			c, err := srv.Accept(5 * time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			if tt.hello != nil {
				c.SendRaw(tt.hello)
			}
			c.Recv(2 * time.Second) // whatever the client answers
		}()
		start := time.Now()
		_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, HandshakeTimeout: 300 * time.Millisecond})
		require.ErrorContains(t, err, tt.want, tt.name)
		require.Less(t, time.Since(start), 20*time.Second, tt.name)
		if tt.hello == nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		}
		srv.Close()
	}
}

func marshal(t *testing.T, m control.Message) []byte {
	var b [control.MsgSize]byte
	require.NoError(t, control.Marshal(m, &b))
	return b[:]
}

// serveOne accepts one client on srv and completes a good handshake.
func serveOne(t *testing.T, srv *hostile.Server) *hostile.Peer {
	t.Helper()
	c, err := srv.Accept(5 * time.Second)
	require.NoError(t, err)
	p, err := hostile.Serve(c, hostile.GoodHello(), ring.DefaultCacheLine(), hostileStep)
	t.Cleanup(p.Close)
	require.NoError(t, err)
	return p
}

// TestHostileServerRing: on the client's receive ring (S2C) the server
// writes lengths beyond the buffer (skipped, counted) and then moves its
// tail by more than the ring: the client disconnects with the reason,
// reports link down (not EOF) and reconnects by itself.
func TestHostileServerRing(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	srv, err := hostile.Listen(sock)
	require.NoError(t, err)
	defer srv.Close()
	type opened struct {
		h   *memifpcap.Handle
		err error
	}
	done := make(chan opened, 1)
	go func() {
		h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, RingSize: 16, BufferSize: 128,
			ReadTimeout: 3 * time.Second, ReconnectInterval: 50 * time.Millisecond, HandshakeTimeout: time.Second})
		done <- opened{h, err}
	}()
	p := serveOne(t, srv)
	o := <-done
	require.NoError(t, o.err)
	cli := o.h
	defer cli.Close()

	// The client posts its 16 buffers (head = 16) on its first read.
	put := func(idx uint16, data []byte, length uint32) {
		d := p.S2C.Desc(idx)
		copy(p.Region[d.Offset:], data)
		p.S2C.SetDesc(idx, ring.Desc{Region: d.Region, Offset: d.Offset, Length: length})
	}
	put(0, []byte("too long"), 129)
	put(1, []byte("too long"), 0xFFFFFFFF)
	put(2, []byte("fits"), 4)
	p.S2C.StoreTail(3)
	data, _, err := cli.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, []byte("fits"), data)
	require.Equal(t, uint64(2), cli.Stats().BadDescriptors)

	p.S2C.StoreTail(3 + 17)
	_, _, err = cli.ReadPacketData()
	require.ErrorIs(t, err, memifpcap.ErrLinkDown)
	require.NotErrorIs(t, err, io.EOF)
	require.ErrorContains(t, err, "Corrupt ring")
	m, err := p.Expect(control.MsgDisconnect, hostileStep)
	require.NoError(t, err)
	require.Contains(t, m.(control.Disconnect).Reason, "Corrupt ring")

	// It comes back by itself; counters go on.
	p2 := serveOne(t, srv)
	require.NoError(t, hostile.WaitIndex(p2.S2C.Head, 16, 5*time.Second), "the client posts its buffers again")
	st := cli.Stats()
	require.Equal(t, uint64(2), st.Connects)
	require.Equal(t, uint64(1), st.Disconnects)
	require.Equal(t, uint64(1), st.Packets)
	require.Equal(t, uint64(2), st.BadDescriptors)
}

// TestHostileServerTxIndexJump: on the client's transmit ring (C2S) the
// server moves its tail past what the client published: the write fails,
// the client disconnects with the reason and the link is down, not closed.
func TestHostileServerTxIndexJump(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	srv, err := hostile.Listen(sock)
	require.NoError(t, err)
	defer srv.Close()
	done := make(chan *memifpcap.Handle, 1)
	go func() {
		h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, RingSize: 16, BufferSize: 128, ReconnectInterval: -1, HandshakeTimeout: time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- h
	}()
	p := serveOne(t, srv)
	cli := <-done
	require.NotNil(t, cli)
	defer cli.Close()

	require.NoError(t, cli.WritePacketData([]byte("one")))
	require.Equal(t, uint16(1), p.C2S.Head())
	d := p.C2S.Desc(0)
	require.Equal(t, []byte("one"), p.Region[d.Offset:d.Offset+d.Length])
	p.C2S.StoreTail(40) // the client published 1
	// The client looks at the tail when it needs room: at the latest when
	// its 16 slots are used.
	written := 1
	for ; written < 32; written++ {
		if err = cli.WritePacketData([]byte("two")); err != nil {
			break
		}
	}
	require.Error(t, err)
	require.LessOrEqual(t, written, 16)
	require.NotErrorIs(t, err, io.EOF)
	require.NotErrorIs(t, err, memifpcap.ErrTimeout)
	require.ErrorContains(t, err, "corrupt ring")
	m, err := p.Expect(control.MsgDisconnect, hostileStep)
	require.NoError(t, err)
	require.Equal(t, "Bad descriptor", m.(control.Disconnect).Reason)
	require.ErrorIs(t, cli.WritePacketData([]byte("three")), memifpcap.ErrLinkDown)
	require.False(t, cli.LinkUp())
	require.Equal(t, uint64(written), cli.Stats().TxPackets)
}
