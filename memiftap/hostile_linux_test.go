package memiftap

import (
	"strings"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/ring"
)

// The tap against hostile peers (internal/hostile) on either side: bad
// descriptors are skipped and counted, never forwarded; an impossible ring
// index or a region shrunk under the tap ends that link with its reason,
// and the other peer is told; the tap lives on and forwards for the next
// good peer.

const hostileStep = 2 * time.Second

func hostileLayout() ring.Layout {
	return ring.Layout{CacheLine: ring.DefaultCacheLine(), Log2RingSize: 4, NumC2S: 1, NumS2C: 1, BufferSize: 256}
}

// hostileHandshake connects a hostile client with memory m to sock once the
// tap listens there.
func hostileHandshake(t *testing.T, sock string, m *hostile.Memory) *hostile.Client {
	t.Helper()
	var c *hostile.Client
	waitFor(t, "the hostile client's handshake with the tap", time.Minute, func() bool {
		var err error
		if c, err = hostile.Handshake(sock, 0, m.Offer(), true, hostileStep); err != nil {
			if c != nil {
				c.Close()
			}
			return false
		}
		return true
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func hostileMemory(t *testing.T, sealed bool) *hostile.Memory {
	t.Helper()
	m, err := hostile.NewMemory(hostileLayout(), sealed)
	must(t, err)
	t.Cleanup(m.Close)
	return m
}

// putC2S writes data into C2S slot idx's buffer and a descriptor for it.
func putC2S(m *hostile.Memory, idx uint16, data []byte) {
	off := m.Buffer(ring.C2S, int(idx)&15)
	copy(m.Data[off:], data)
	m.C2S.SetDesc(idx, ring.Desc{Length: uint32(len(data)), Offset: off})
}

// readOne reads one frame from h and checks it is want.
func readOne(t *testing.T, h *memifpcap.Handle, want []byte) {
	t.Helper()
	for {
		data, _, err := h.ReadPacketData()
		if err != nil && strings.Contains(err.Error(), "link down") {
			continue // an earlier session's end
		}
		must(t, err)
		if string(data) != string(want) {
			t.Fatalf("got a %d-byte frame, want the %d-byte one", len(data), len(want))
		}
		return
	}
}

func expectDisconnect(t *testing.T, c *hostile.Conn, reason string) {
	t.Helper()
	m, err := c.Expect(control.MsgDisconnect, 10*time.Second)
	must(t, err)
	if got := m.(control.Disconnect).Reason; !strings.Contains(got, reason) {
		t.Fatalf("DISCONNECT %q, want %q", got, reason)
	}
}

func TestTapHostileClient(t *testing.T) {
	t.Parallel()
	up, down := sockPath(t, "server.sock"), sockPath(t, "tap.sock")
	server := openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, ReadTimeout: 20 * time.Second})
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: time.Minute, ReconnectInterval: 100 * time.Millisecond},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down, HandshakeTimeout: time.Second},
		Capture:    &Capture{W: discard{}},
		OnEvent:    ev.add,
	})
	must(t, err)
	stop := runTap(t, tap)
	ctx := ctxFor(t, 2*time.Minute)

	// Bad descriptors: skipped and counted; the good frame behind them crosses.
	m := hostileMemory(t, true)
	c := hostileHandshake(t, down, m)
	good := fixedFrame(Downstream, 0, 7)
	m.C2S.SetDesc(0, ring.Desc{Offset: uint32(len(m.Data)) - 8, Length: 64}) // past the region's end
	m.C2S.SetDesc(1, ring.Desc{Region: 9, Length: 64})                       // no such region
	putC2S(m, 2, good)
	m.C2S.StoreHead(3)
	readOne(t, server, good)

	// An impossible index ends the link; the server app is told why.
	d0 := server.Stats().Disconnects
	m.C2S.StoreHead(3 + 100)
	expectDisconnect(t, c.Conn, "Corrupt ring")
	reason := linkEnded(t, server, d0, time.Minute)
	if !strings.Contains(reason, "downstream link down") || !strings.Contains(reason, "Corrupt ring") {
		t.Errorf("the server app was told %q", reason)
	}

	// Memory shrunk under the tap: that link ends, the process lives.
	m2 := hostileMemory(t, false)
	c2 := hostileHandshake(t, down, m2)
	// The descriptor points at a buffer past the first page, which keeps
	// the rings; the region shrinks to that page, then the frame is
	// published.
	off := m2.Buffer(ring.C2S, 15)
	if off < 4096 || len(m2.Data) <= 4096 {
		t.Fatalf("layout: buffer 15 at %d of %d bytes", off, len(m2.Data))
	}
	copy(m2.Data[off:], good)
	m2.C2S.SetDesc(0, ring.Desc{Length: uint32(len(good)), Offset: off})
	must(t, m2.Shrink(4096))
	m2.C2S.StoreHead(1)
	expectDisconnect(t, c2.Conn, "Memory fault")

	// A good client afterwards: the tap forwards.
	cli := openPeer(t, memifpcap.Config{Socket: down, ConnectWait: time.Minute})
	must(t, cli.WaitLinkUp(ctx))
	must(t, cli.WritePacketData(good))
	readOne(t, server, good)
	must(t, stop())
	if st := tap.Stats(); st.FromDownstream.BadDescriptors != 2 || st.FromDownstream.Frames != 2 {
		t.Errorf("stats %+v: want 2 bad descriptors and 2 frames from downstream", st.FromDownstream)
	}
}

func TestTapHostileServer(t *testing.T) {
	t.Parallel()
	up, down := sockPath(t, "server.sock"), sockPath(t, "tap.sock")
	srv, err := hostile.Listen(up)
	must(t, err)
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream: memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: time.Minute, ReconnectInterval: 100 * time.Millisecond,
			RingSize: 16, BufferSize: 256, HandshakeTimeout: time.Second},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
		OnEvent:    ev.add,
	})
	must(t, err)
	stop := runTap(t, tap)
	ctx := ctxFor(t, 2*time.Minute)
	conn, err := srv.Accept(30 * time.Second)
	must(t, err)
	p, err := hostile.Serve(conn, hostile.GoodHello(), ring.DefaultCacheLine(), hostileStep)
	must(t, err)
	defer p.Close()
	cli := openPeer(t, memifpcap.Config{Socket: down, ConnectWait: time.Minute, ReconnectInterval: 100 * time.Millisecond, ReadTimeout: 20 * time.Second})
	must(t, cli.WaitLinkUp(ctx))

	// The tap refilled its 16 buffers; a length past a buffer is skipped.
	good := fixedFrame(Upstream, 0, 3)
	waitFor(t, "the tap's buffers", 10*time.Second, func() bool { return p.S2C.Head() == 16 })
	put := func(idx uint16, data []byte, length uint32) {
		d := p.S2C.Desc(idx)
		copy(p.Region[d.Offset:], data)
		p.S2C.SetDesc(idx, ring.Desc{Region: d.Region, Offset: d.Offset, Length: length})
	}
	put(0, good, 257)
	put(1, good, uint32(len(good)))
	p.S2C.StoreTail(2)
	readOne(t, cli, good)

	// A tail beyond the buffers the tap offered: the link ends.
	d0 := cli.Stats().Disconnects
	p.S2C.StoreTail(2 + 17)
	expectDisconnect(t, p.Conn, "Corrupt ring")
	reason := linkEnded(t, cli, d0, time.Minute)
	if !strings.Contains(reason, "upstream link down") || !strings.Contains(reason, "Corrupt ring") {
		t.Errorf("the client app was told %q", reason)
	}

	// The next "server" answers the handshake with garbage; then a good
	// server: the tap forwards again.
	conn, err = srv.Accept(30 * time.Second)
	must(t, err)
	must(t, conn.SendRaw(make([]byte, 64)))
	conn.Close()
	srv.Close()
	server := openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, ReadTimeout: 20 * time.Second})
	must(t, cli.WaitLinkUp(ctx))
	must(t, server.WaitLinkUp(ctx))
	must(t, server.WritePacketData(good))
	readOne(t, cli, good)
	must(t, stop())
	if st := tap.Stats(); st.FromUpstream.BadDescriptors != 1 || st.FromUpstream.Frames != 2 {
		t.Errorf("stats %+v: want 1 bad descriptor and 2 frames from upstream", st.FromUpstream)
	}
}
