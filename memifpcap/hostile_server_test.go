//go:build linux

package memifpcap_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/ring"
)

// A server Handle against a hostile client (internal/hostile) that speaks
// memif over a real socket with real memfds, and misbehaves. Every case ends
// with a refusal naming the problem, or with counted and skipped
// descriptors, and the server still serves: a well-behaved memifpcap client
// connects afterwards and exchanges frames.

const hostileStep = 2 * time.Second

func hostileLayout() ring.Layout {
	return ring.Layout{CacheLine: ring.DefaultCacheLine(), Log2RingSize: 4, NumC2S: 1, NumS2C: 1, BufferSize: 256}
}

func hostileServer(t *testing.T) (*memifpcap.Handle, string) {
	t.Helper()
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock,
		HandshakeTimeout: 500 * time.Millisecond, ReadTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv, sock
}

func hostileMemory(t *testing.T, sealed bool) *hostile.Memory {
	t.Helper()
	m, err := hostile.NewMemory(hostileLayout(), sealed)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	return m
}

// stillServes proves the server Handle survived: a good client connects,
// and frames go both ways.
func stillServes(t *testing.T, srv *memifpcap.Handle, sock string) {
	t.Helper()
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, ReadTimeout: 3 * time.Second})
	require.NoError(t, err, "a good client after the hostile one")
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	// A read may first report the hostile session's end.
	transferSkippingLinkDown(t, cli, srv, 3)
	transferSkippingLinkDown(t, srv, cli, 3)
}

func transferSkippingLinkDown(t *testing.T, tx, rx *memifpcap.Handle, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		require.NoError(t, tx.WritePacketData(frame(i, 100)))
	}
	for i := 0; i < n; i++ {
		data, _, err := rx.ReadPacketData()
		if errors.Is(err, memifpcap.ErrLinkDown) {
			data, _, err = rx.ReadPacketData()
		}
		require.NoError(t, err)
		require.Equal(t, frame(i, 100), data)
	}
}

// refused runs a handshake of steps and checks the server answers with a
// DISCONNECT whose reason contains reason.
func refused(t *testing.T, sock string, steps []hostile.Step, connect bool, reason string) {
	t.Helper()
	c, err := hostile.Handshake(sock, 0, steps, connect, hostileStep)
	if c != nil {
		defer c.Close()
	}
	var de *control.DisconnectError
	require.ErrorAs(t, err, &de)
	require.Contains(t, de.Reason, reason)
}

func TestHostileHandshakeRefusals(t *testing.T) {
	t.Parallel()
	srv, sock := hostileServer(t)
	m := hostileMemory(t, true)
	offer := m.Offer()
	region, c2s, s2c := offer[0], offer[1], offer[2]
	l := m.Layout

	wrongSize := hostile.Raw(control.MsgAddRegion)[:64]
	long := append(hostile.Raw(control.MsgAddRegion), make([]byte, 72)...)

	// A second memory, sealed but whose ring cookies were never written.
	bare := hostileMemory(t, true)
	bare.C2S.SetFlags(0)
	copy(bare.Data, make([]byte, ring.RingBytes(l.CacheLine, l.Log2RingSize))) // C2S cookie = 0
	bareOffer := bare.Offer()

	tests := []struct {
		name    string
		steps   []hostile.Step
		connect bool
		reason  string
	}{
		{"message of 64 bytes", []hostile.Step{{Raw: wrongSize}}, false, "Invalid message size"},
		{"message of 200 bytes", []hostile.Step{{Raw: long}}, false, "Invalid message size"},
		{"unknown type", []hostile.Step{{Raw: hostile.Raw(99)}}, false, "Unknown message type"},
		{"type NONE", []hostile.Step{{Raw: hostile.Raw(control.MsgNone)}}, false, "Unknown message type"},
		{"INIT twice", []hostile.Step{{Msg: control.Init{Version: control.Version}}}, false, "Unexpected message"},
		{"ADD_REGION without fd", []hostile.Step{{Msg: region.Msg}}, false, "Missing region fd"},
		{"ADD_REGION with 3 fds", []hostile.Step{{Msg: region.Msg, FDs: []int{m.FD, m.C2SEv, m.S2CEv}}}, false, "Invalid message"},
		{"ADD_RING without fd", []hostile.Step{region, {Msg: c2s.Msg}}, false, "Missing interrupt fd"},
		{"ADD_RING before ADD_REGION", []hostile.Step{c2s}, false, "Invalid region index"},
		{"region index out of order", []hostile.Step{{Msg: control.AddRegion{Index: 1, Size: l.RegionSize()}, FDs: []int{m.FD}}}, false, "Invalid region index"},
		{"region of size 0", []hostile.Step{{Msg: control.AddRegion{Size: 0}, FDs: []int{m.FD}}}, false, "Invalid region size"},
		{"two C2S rings (too many rings)", []hostile.Step{region, c2s, {Msg: control.AddRing{Flags: control.RingFlagC2S, Index: 1, Log2RingSize: 4}, FDs: []int{m.C2SEv}}}, false, "Invalid ring index"},
		{"ring index 300", []hostile.Step{region, {Msg: control.AddRing{Flags: control.RingFlagC2S, Index: 300, Log2RingSize: 4}, FDs: []int{m.C2SEv}}}, false, "Invalid ring index"},
		{"private header", []hostile.Step{region, {Msg: control.AddRing{Flags: control.RingFlagC2S, Log2RingSize: 4, PrivateHdrSize: 8}, FDs: []int{m.C2SEv}}}, false, "private headers"},
		{"CONNECT without rings", []hostile.Step{region}, true, "Missing rings"},
		{"CONNECTED from a client", []hostile.Step{region, {Msg: control.Connected{}}}, false, "Unexpected message"},
		{"ring outside its region (region smaller than its rings)", []hostile.Step{
			{Msg: control.AddRegion{Size: 4096}, FDs: []int{m.FD}},
			{Msg: control.AddRing{Flags: control.RingFlagC2S, Offset: 4000, Log2RingSize: 4}, FDs: []int{m.C2SEv}},
			s2c,
		}, true, "outside region"},
		{"region larger than its memfd", []hostile.Step{
			{Msg: control.AddRegion{Size: l.RegionSize() + 4096}, FDs: []int{m.FD}}, c2s, s2c,
		}, true, "Failed to map region 0"},
		{"wrong ring cookie", []hostile.Step{bareOffer[0], bareOffer[1], bareOffer[2]}, true, "Wrong ring"},
		{"region fd is an eventfd", []hostile.Step{{Msg: region.Msg, FDs: []int{m.C2SEv}}, c2s, s2c}, true, "Failed to map region 0"},
	}
	for _, tt := range tests {
		refused(t, sock, tt.steps, tt.connect, tt.reason)
		require.False(t, srv.LinkUp(), tt.name)
	}
	stillServes(t, srv, sock)
}

// More regions than memif allows (256): the 257th ADD_REGION is refused.
func TestHostileTooManyRegions(t *testing.T) {
	t.Parallel()
	srv, sock := hostileServer(t)
	m := hostileMemory(t, true)
	steps := make([]hostile.Step, 257)
	for i := range steps {
		steps[i] = hostile.Step{Msg: control.AddRegion{Index: uint16(i), Size: 4096}, FDs: []int{m.FD}}
	}
	c, err := hostile.Handshake(sock, 0, steps, false, hostileStep)
	defer c.Close()
	var de *control.DisconnectError
	require.ErrorAs(t, err, &de)
	require.Equal(t, "Invalid region index", de.Reason)
	require.Contains(t, err.Error(), "step 257:", "the 257th region (step 0 is INIT)")
	stillServes(t, srv, sock)
}

// An unsealed memfd, shrunk after ADD_REGION: the server refuses to map it
// (no SIGBUS can follow), and says why.
func TestHostileUnsealedShrunkRegion(t *testing.T) {
	t.Parallel()
	srv, sock := hostileServer(t)
	m := hostileMemory(t, false)
	offer := m.Offer()
	c, err := hostile.Handshake(sock, 0, offer[:1], false, hostileStep)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, m.Shrink(0))
	for _, s := range offer[1:] {
		require.NoError(t, c.Send(s.Msg, s.FDs...))
		_, err := c.Expect(control.MsgAck, hostileStep)
		require.NoError(t, err)
	}
	require.NoError(t, c.Send(control.Connect{}))
	msg, err := c.Expect(control.MsgDisconnect, hostileStep)
	require.NoError(t, err)
	require.Contains(t, msg.(control.Disconnect).Reason, "Failed to map region 0")
	require.False(t, srv.LinkUp())
	stillServes(t, srv, sock)
	// Unsealed but not shrunk: see TestUnsealedRegions.
}

// A client that connects and never speaks is dropped after the handshake
// timeout; meanwhile a good client is served.
func TestHostileStalledHandshake(t *testing.T) {
	t.Parallel()
	srv, sock := hostileServer(t)
	c, err := hostile.Dial(sock)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Expect(control.MsgHello, hostileStep)
	require.NoError(t, err)
	stillServes(t, srv, sock)
	// HandshakeTimeout is 500 ms: the server drops the staller (closes
	// the channel without a message) long before this read gives up.
	_, err = c.Recv(20 * time.Second)
	require.ErrorIs(t, err, hostile.ErrNoMessage)
}

// A flood of connections that never speak: the server drops them (beyond
// its pending limit at once, the rest after the handshake timeout) and
// serves a good client once they are gone.
func TestHostileConnectionFlood(t *testing.T) {
	t.Parallel()
	srv, sock := hostileServer(t)
	var conns []*hostile.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 200; i++ {
		c, err := hostile.Dial(sock)
		if err != nil {
			break // backlog full: also fine
		}
		conns = append(conns, c)
	}
	require.Greater(t, len(conns), 64)
	closed := 0
	for _, c := range conns {
		if _, err := c.Recv(5 * time.Second); err != nil {
			// dropped at once (beyond MaxPending) or after the timeout
			closed++
			continue
		}
		// HELLO: now wait to be dropped for silence.
		_, err := c.Recv(5 * time.Second)
		require.ErrorIs(t, err, hostile.ErrNoMessage)
		closed++
	}
	require.Equal(t, len(conns), closed)
	stillServes(t, srv, sock)
}

// connected runs a good handshake for the hostile client and waits for the
// server's link.
func connected(t *testing.T, srv *memifpcap.Handle, sock string, m *hostile.Memory) *hostile.Client {
	t.Helper()
	c, err := hostile.Handshake(sock, 0, m.Offer(), true, hostileStep)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	return c
}

// put writes data into C2S slot idx's buffer and a descriptor for it.
func put(m *hostile.Memory, idx uint16, data []byte, flags uint16) {
	slot := int(idx) & (1<<m.Layout.Log2RingSize - 1)
	off := m.Buffer(ring.C2S, slot)
	copy(m.Data[off:], data)
	m.C2S.SetDesc(idx, ring.Desc{Flags: flags, Length: uint32(len(data)), Offset: off})
}

// Bad descriptors are counted and skipped; the good packet behind them is
// delivered exactly, and the link stays up.
func TestHostileDescriptors(t *testing.T) {
	t.Parallel()
	srv, sock := hostileServer(t)
	m := hostileMemory(t, true)
	connected(t, srv, sock, m)
	size := uint32(m.Layout.RegionSize())
	good := []byte("a good frame after the bad ones")
	bad := []ring.Desc{
		{Region: 1, Offset: 0, Length: 10},                // bad region index
		{Region: 0xFFFF, Offset: 0, Length: 10},           // far out
		{Offset: size - 5, Length: 6},                     // offset+length one past the end
		{Offset: size + 1, Length: 0},                     // offset outside
		{Offset: 0, Length: 0xFFFFFFFF},                   // length larger than any buffer
		{Offset: 0xFFFFFFF0, Length: 0x20},                // wraps in 32 bits
		{Flags: ring.DescFlagNext, Offset: 0, Length: 10}, // chain whose
		{Flags: 0, Region: 7, Offset: 0, Length: 10},      // second descriptor is bad
	}
	var idx uint16
	for _, d := range bad {
		m.C2S.SetDesc(idx, d)
		idx++
	}
	put(m, idx, good, 0)
	idx++
	m.C2S.StoreHead(idx)
	data, _, err := srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, good, data)
	st := srv.Stats()
	require.Equal(t, uint64(len(bad)), st.BadDescriptors)
	require.Equal(t, uint64(1), st.Packets)
	require.True(t, srv.LinkUp())

	// NEXT on the last published slot: the reader waits for the rest.
	require.NoError(t, hostile.WaitIndex(m.C2S.Tail, idx, hostileStep)) // wait for the release
	put(m, idx, []byte("first half, "), ring.DescFlagNext)
	m.C2S.StoreHead(idx + 1)
	rd := make(chan []byte, 1)
	go func() {
		data, _, err := srv.ReadPacketData()
		if err != nil {
			data = []byte("error: " + err.Error())
		}
		rd <- data
	}()
	select {
	case d := <-rd:
		t.Fatalf("a half chain was delivered: %q", d)
	case <-time.After(200 * time.Millisecond):
	}
	put(m, idx+1, []byte("second half"), 0)
	m.C2S.StoreHead(idx + 2)
	require.Equal(t, []byte("first half, second half"), <-rd)
	idx += 2

	// A chain as long as the ring, never ending: skipped whole.
	require.NoError(t, hostile.WaitIndex(m.C2S.Tail, idx, hostileStep))
	n := uint16(1 << m.Layout.Log2RingSize)
	for i := uint16(0); i < n; i++ {
		put(m, idx+i, []byte{byte(i)}, ring.DescFlagNext)
	}
	m.C2S.StoreHead(idx + n)
	_, _, err = srv.ReadPacketData()
	require.ErrorIs(t, err, memifpcap.ErrTimeout, "nothing to deliver")
	st = srv.Stats()
	require.Equal(t, uint64(len(bad))+uint64(n), st.BadDescriptors)
	require.Equal(t, uint64(2), st.Packets)
	require.True(t, srv.LinkUp())
	// The skipped slots are handed back while the reader waits, so the
	// client has room again and its next frame arrives.
	idx += n
	require.NoError(t, hostile.WaitIndex(m.C2S.Tail, idx, hostileStep))
	put(m, idx, []byte("after the bad chain"), 0)
	m.C2S.StoreHead(idx + 1)
	data, _, err = srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, []byte("after the bad chain"), data)
}

// Head jumping by more than the ring size: the ring cannot be trusted, the
// server disconnects with the reason, reads report link down (not EOF),
// and the next client is served.
func TestHostileIndexJump(t *testing.T) {
	t.Parallel()
	for _, jump := range []uint16{17, 0x8000, 0xFFFF} {
		srv, sock := hostileServer(t)
		m := hostileMemory(t, true)
		c := connected(t, srv, sock, m)
		m.C2S.StoreHead(jump)
		_, _, err := srv.ReadPacketData()
		require.ErrorIs(t, err, memifpcap.ErrLinkDown, "head %d", jump)
		require.NotErrorIs(t, err, io.EOF)
		require.Contains(t, err.Error(), "Corrupt ring")
		msg, err := c.Expect(control.MsgDisconnect, hostileStep)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(msg.(control.Disconnect).Reason, "Corrupt ring"), msg.(control.Disconnect).Reason)
		stillServes(t, srv, sock)
	}
}

// After the handshake the only message allowed is DISCONNECT.
func TestHostileMessageAfterConnect(t *testing.T) {
	t.Parallel()
	for _, raw := range [][]byte{
		hostile.Raw(control.MsgAck),
		hostile.Raw(control.MsgInit),
		hostile.Raw(77),
		hostile.Raw(control.MsgAck)[:10],
	} {
		srv, sock := hostileServer(t)
		m := hostileMemory(t, true)
		c := connected(t, srv, sock, m)
		// One frame first, so the reader has seen the session (a session
		// that ends before any read looked at it is not reported).
		put(m, 0, []byte("hello"), 0)
		m.C2S.StoreHead(1)
		data, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, []byte("hello"), data)
		require.NoError(t, c.SendRaw(raw, m.FD))
		_, _, err = srv.ReadPacketData()
		require.ErrorIs(t, err, memifpcap.ErrLinkDown, "message % x", raw[:2])
		require.NotErrorIs(t, err, io.EOF)
		stillServes(t, srv, sock)
		require.Equal(t, uint64(2), srv.Stats().Connects)
	}
}

// The server's transmit ring: a client that posts hostile buffers (bad
// region, outside the region) makes the write fail as a bad descriptor;
// the link goes down and the server serves the next client.
func TestHostileClientOffersBadBuffers(t *testing.T) {
	t.Parallel()
	srv, sock := hostileServer(t)
	m := hostileMemory(t, true)
	c := connected(t, srv, sock, m)
	// S2C: the client posts buffers by moving head.
	m.S2C.SetDesc(0, ring.Desc{Region: 9, Offset: 0, Length: 256})
	m.S2C.StoreHead(1)
	err := srv.WritePacketData(frame(0, 100))
	require.Error(t, err)
	_, err = c.Expect(control.MsgDisconnect, hostileStep)
	require.NoError(t, err)
	stillServes(t, srv, sock)
}
