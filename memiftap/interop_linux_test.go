package memiftap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/internal/testpmd"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// These tests put the tap between real DPDK 22.11 testpmd peers, and
// between testpmd and a Go peer. DPDK 22.11 may crash when its peer
// disconnects while it forwards (see package testpmd), so testpmd's
// forwarding is stopped before any link of it goes down, except where a
// test kills testpmd itself.

// startPMD starts testpmd and stops it at the end of the test.
func startPMD(t *testing.T, cfg testpmd.Config) *testpmd.Peer {
	t.Helper()
	testpmd.Require(t)
	cfg.Log = pmdLog{t}
	// "start" drops what the receive queues hold; we send right after it.
	cfg.ExtraApp = append(cfg.ExtraApp, "--no-flush-rx")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := testpmd.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Stop() })
	return p
}

type pmdLog struct{ t *testing.T }

func (w pmdLog) Write(b []byte) (int, error) {
	if os.Getenv("MEMIFPCAP_TESTPMD_LOG") != "" {
		w.t.Logf("testpmd: %s", bytes.TrimRight(b, "\n"))
	}
	return len(b), nil
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// echoThrough sends n frames of each size from h through a peer that
// sends every frame back (testpmd io), at most window in flight, and
// checks each comes back whole and in order.
func echoThrough(t *testing.T, h *memifpcap.Handle, sizes []int, n int) {
	t.Helper()
	const window = 128
	total := n * len(sizes)
	want := func(i int) []byte {
		b := make([]byte, sizes[i%len(sizes)])
		fillFrame(b, Downstream, 0, i)
		return b
	}
	got := make(chan int, total)
	errc := make(chan error, 1)
	go func() {
		for i := range total {
			data, _, err := h.ReadPacketData()
			if err != nil {
				errc <- fmt.Errorf("echo %d: %w", i, err)
				return
			}
			if !bytes.Equal(data, want(i)) {
				_, _, seq, _ := frameID(data)
				errc <- fmt.Errorf("echo %d: %d bytes, frame %d; want %d bytes", i, len(data), seq, len(want(i)))
				return
			}
			got <- i
		}
		errc <- nil
	}()
	received := 0
	for i := range total {
		for i-received >= window {
			select {
			case <-got:
				received++
			case err := <-errc:
				t.Fatalf("reader stopped: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatalf("no echo of frame %d for 20 s", received)
			}
		}
		must(t, h.WritePacketData(want(i)))
	}
	select {
	case err := <-errc:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d frames came back", received+len(got), total)
	}
}

// TestInteropTapGoClientTestpmdServer: a Go client, the tap, testpmd as
// the server echoing (io). 64, 1500 and 9000-byte frames: 2048-byte
// buffers on the Go link (chains), 9216 on DPDK's (single buffers, away
// from DPDK 22.11's chained TX bug). testpmd's port counts equal the
// tap's, every frame comes back intact, and when testpmd leaves the Go
// client is told why.
func TestInteropTapGoClientTestpmdServer(t *testing.T) {
	up, down := sockPath(t, "dpdk.sock"), sockPath(t, "tap.sock")
	p := startPMD(t, testpmd.Config{Role: "server", Socket: up, Forward: "io", MbufSize: 9344})
	capPath := filepath.Join(t.TempDir(), "tap.pcapng")
	f, err := os.Create(capPath)
	must(t, err)
	defer f.Close()
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, BufferSize: 9216, ConnectWait: 60 * time.Second},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
		Capture:    &Capture{W: f},
		OnEvent:    ev.add,
	})
	must(t, err)
	stop := runTap(t, tap)
	h := openPeer(t, memifpcap.Config{Socket: down, BufferSize: 2048, ReadTimeout: 20 * time.Second, ConnectWait: 60 * time.Second})
	must(t, p.WaitConnected(ctxFor(t, 30*time.Second)))
	must(t, p.StartForwarding())
	const n = 200
	echoThrough(t, h, []int{64, 1500, 9000}, n)
	must(t, p.StopForwarding())
	st, err := p.Stats(ctxFor(t, 10*time.Second))
	must(t, err)
	ts := tap.Stats()
	if st.RxPackets != 3*n || st.TxPackets != 3*n || st.RxBytes != n*(64+1500+9000) ||
		ts.FromDownstream.Frames != st.RxPackets || ts.FromUpstream.Frames != st.TxPackets {
		t.Fatalf("testpmd port stats %+v; tap %+v; want %d frames each way", st, ts, 3*n)
	}
	// testpmd leaves (its forwarding stopped): the Go client is told.
	d0 := h.Stats().Disconnects
	_, _ = p.Stop()
	reason := linkEnded(t, h, d0, 20*time.Second)
	if !strings.Contains(reason, "upstream link down: peer closed the control channel") {
		t.Errorf("the Go client was told %q", reason)
	}
	must(t, stop())
	ng := readNG(t, capPath)
	if len(ng.recs) != 6*n {
		t.Fatalf("%d frames recorded, want %d", len(ng.recs), 6*n)
	}
	for i, r := range ng.recs {
		if r.flags != flagInbound || r.queue != 0 || r.length != len(r.data) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

// waitSocket waits until path exists: the tap listens there.
func waitSocket(t *testing.T, path string) {
	waitFor(t, "the tap to listen on "+path, 60*time.Second, func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
}

// TestInteropTapTestpmdBothSides: testpmd client, the tap, testpmd
// server. The client (io) starts with 8 bursts that then go round through
// the server (macswap) both ways; after the client stops, every frame it
// sent crossed the tap and reached the server, and every frame the server
// sent crossed back: the tap's counts equal both testpmds' port stats.
func TestInteropTapTestpmdBothSides(t *testing.T) {
	up, down := sockPath(t, "dpdk-server.sock"), sockPath(t, "tap.sock")
	srv := startPMD(t, testpmd.Config{Role: "server", Socket: up, Forward: "macswap"})
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: 60 * time.Second},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
		Capture:    &Capture{W: discard{}},
		OnEvent:    ev.add,
	})
	must(t, err)
	stop := runTap(t, tap)
	must(t, srv.WaitConnected(ctxFor(t, 60*time.Second)))
	waitSocket(t, down)
	cli := startPMD(t, testpmd.Config{Role: "client", Socket: down, Forward: "io"})
	must(t, cli.WaitConnected(ctxFor(t, 30*time.Second)))
	must(t, srv.StartForwarding())
	time.Sleep(time.Second) // DPDK's server sends only once the client posted buffers
	must(t, cli.StartForwardingTxFirst(8))
	waitFor(t, "frames going round", 30*time.Second, func() bool { return tap.Stats().FromUpstream.Frames > 10000 })
	must(t, cli.StopForwarding())
	// What is in flight settles: the server echoes what reaches it; its
	// echoes wait in the stopped client's ring.
	var cs, ss testpmd.Stats
	waitFor(t, "the frames in flight to settle", 30*time.Second, func() bool {
		var err error
		if cs, err = cli.Stats(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if ss, err = srv.Stats(ctxFor(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		ts := tap.Stats()
		return ts.FromDownstream.Frames == cs.TxPackets && ss.RxPackets == cs.TxPackets && ss.TxPackets == ts.FromUpstream.Frames && ss.TxPackets == ss.RxPackets
	})
	ts := tap.Stats()
	t.Logf("client tx %d rx %d; server rx %d tx %d; tap %+v", cs.TxPackets, cs.RxPackets, ss.RxPackets, ss.TxPackets, ts)
	if cs.RxPackets > ss.TxPackets || ss.TxPackets-cs.RxPackets > 8*32 {
		t.Errorf("the client received %d of the server's %d frames; at most the %d going round may wait in its ring", cs.RxPackets, ss.TxPackets, 8*32)
	}
	if ts.FromDownstream.Lost+ts.FromUpstream.Lost+ts.FromDownstream.Dropped+ts.FromUpstream.Dropped != 0 {
		t.Errorf("tap lost or dropped frames: %+v", ts)
	}
	must(t, srv.StopForwarding())
	res, err := cli.Stop()
	if err != nil || res.Crashed {
		t.Errorf("testpmd client: %+v, %v", res, err)
	}
	res, err = srv.Stop()
	if err != nil && !errors.Is(err, testpmd.ErrCrashed) {
		t.Errorf("testpmd server: %+v, %v", res, err)
	}
	must(t, stop())
}

// TestInteropTapKillTestpmd: testpmd (the server, io) is killed with
// SIGKILL while a Go client streams through the tap: the Go client is
// told, a new testpmd comes up on the same socket, the tap reconnects and
// admits the Go client again, and the echoes resume; none is duplicated
// or corrupt, and the capture covers both sessions.
func TestInteropTapKillTestpmd(t *testing.T) {
	up, down := sockPath(t, "dpdk.sock"), sockPath(t, "tap.sock")
	p := startPMD(t, testpmd.Config{Role: "server", Socket: up, Forward: "io"})
	capPath := filepath.Join(t.TempDir(), "tap.pcapng")
	f, err := os.Create(capPath)
	must(t, err)
	defer f.Close()
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: 60 * time.Second},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
		Capture:    &Capture{W: f},
		OnEvent:    ev.add,
	})
	must(t, err)
	stop := runTap(t, tap)
	h := openPeer(t, memifpcap.Config{Socket: down, ConnectWait: 60 * time.Second, ReconnectInterval: 100 * time.Millisecond})
	must(t, p.WaitConnected(ctxFor(t, 30*time.Second)))
	must(t, p.StartForwarding())

	ctx, cancel := context.WithCancel(ctxFor(t, 120*time.Second))
	defer cancel()
	col := &collector{}
	var wg sync.WaitGroup
	wg.Go(func() { col.read(h, Downstream) })
	wg.Go(func() { streamFrames(ctx, h, 200*time.Microsecond) })
	waitFor(t, "echoes through testpmd", 60*time.Second, func() bool { return col.count() >= 500 })

	d0 := h.Stats().Disconnects
	p.Kill()
	reason := linkEnded(t, h, d0, time.Minute)
	if !strings.Contains(reason, "upstream link down") {
		t.Errorf("the Go client was told %q", reason)
	}
	_, _ = p.Stop()
	before := col.count()
	p2 := startPMD(t, testpmd.Config{Role: "server", Socket: up, Forward: "io"})
	must(t, p2.WaitConnected(ctxFor(t, 60*time.Second)))
	must(t, p2.StartForwarding())
	waitFor(t, "echoes after testpmd came back", 60*time.Second, func() bool { return col.count() >= before+500 })
	cancel()
	must(t, p2.StopForwarding())
	h.Close()
	wg.Wait()
	_, _ = p2.Stop()
	must(t, stop())
	col.mu.Lock()
	if col.bad != "" {
		t.Fatal(col.bad)
	}
	for i := 1; i < len(col.seqs); i++ {
		if col.seqs[i] <= col.seqs[i-1] {
			t.Fatalf("echo of frame %d after frame %d: duplicated or reordered", col.seqs[i], col.seqs[i-1])
		}
	}
	col.mu.Unlock()
	st := tap.Stats()
	if st.Sessions != 2 {
		t.Errorf("%d sessions, want 2", st.Sessions)
	}
	if ng := readNG(t, capPath); len(ng.recs) != int(st.FromUpstream.Frames+st.FromDownstream.Frames) {
		t.Errorf("%d frames recorded, %+v forwarded", len(ng.recs), st)
	}
}

// streamFrames writes numbered frames from h until ctx ends, pacing them
// a little (testpmd echoes; the tap must not be the bottleneck's only
// test). A frame the link refused is written again once it is back.
func streamFrames(ctx context.Context, h *memifpcap.Handle, gap time.Duration) {
	for seq := 0; ctx.Err() == nil; {
		if err := h.WritePacketDataContext(ctx, fixedFrame(Downstream, 0, seq)); err != nil {
			_ = h.WaitLinkUp(ctx)
			continue
		}
		seq++
		time.Sleep(gap)
	}
}
