package memifpcap_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/testpmd"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// These tests drive DPDK 22.11's dpdk-testpmd over a real socket. DPDK
// 22.11 sometimes crashes when its peer disconnects first (it unmaps while
// its forwarding core still polls), so every test stops testpmd before
// closing our side.

// startPeer starts testpmd and stops it at the end of the test.
func startPeer(t *testing.T, cfg testpmd.Config) *testpmd.Peer {
	t.Helper()
	testpmd.Require(t)
	cfg.Log = testLogWriter{t}
	// testpmd's "start" drains and drops what its receive queues hold
	// (and what arrives while it does); we send right after it.
	cfg.ExtraApp = append(cfg.ExtraApp, "--no-flush-rx")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := testpmd.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { stopPeer(t, p) })
	return p
}

func stopPeer(t *testing.T, p *testpmd.Peer) testpmd.Result {
	t.Helper()
	res, err := p.Stop()
	if err != nil {
		t.Logf("testpmd stop: %v", err)
	}
	return res
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(b []byte) (int, error) {
	if os.Getenv("MEMIFPCAP_TESTPMD_LOG") != "" {
		w.t.Logf("testpmd: %s", bytes.TrimRight(b, "\n"))
	}
	return len(b), nil
}

func waitCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// echo sends n frames of each size through a peer that sends every frame
// back unchanged (testpmd io forwarding on one port), keeping at most
// window frames in flight, and checks each one comes back intact and in
// order.
func echo(t *testing.T, h *memifpcap.Handle, sizes []int, n int) {
	t.Helper()
	const window = 128
	total := n * len(sizes)
	want := func(i int) []byte { return frame(i, sizes[i%len(sizes)]) }
	got := make(chan int, total)
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			data, _, err := h.ReadPacketData()
			if err != nil {
				errc <- fmt.Errorf("read %d: %w", i, err)
				return
			}
			if !bytes.Equal(data, want(i)) {
				seq := -1
				if len(data) >= 4 {
					seq = int(binary.BigEndian.Uint32(data))
				}
				errc <- fmt.Errorf("frame %d came back as %d bytes with seq %d, want %d bytes", i, len(data), seq, len(want(i)))
				return
			}
			got <- i
		}
		errc <- nil
	}()
	received := 0
	for i := 0; i < total; i++ {
		for i-received >= window {
			select {
			case <-got:
				received++
			case err := <-errc:
				require.NoError(t, err)
				t.Fatalf("reader stopped early")
			case <-time.After(10 * time.Second):
				t.Fatalf("frame %d: no echo for 10 s (%d received)", received, received)
			}
		}
		require.NoError(t, h.WritePacketData(want(i)), "write %d", i)
	}
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d frames came back", received+len(got), total)
	}
}

func TestInteropClientToTestpmdServer(t *testing.T) {
	// DPDK's default socket kind: abstract.
	sock := abstractName(t)
	p := startPeer(t, testpmd.Config{Role: "server", Socket: sock, Forward: "io"})
	h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	require.NoError(t, p.WaitConnected(waitCtx(t, 30*time.Second)))
	require.NoError(t, p.StartForwarding())
	echo(t, h, []int{64, 1500}, 1000)

	// DPDK counts a transmitted burst after publishing it: stop its
	// forwarding core first so the counters are final.
	require.NoError(t, p.StopForwarding())
	st, err := p.Stats(waitCtx(t, 10*time.Second))
	require.NoError(t, err)
	assert.Equal(t, uint64(2000), st.RxPackets)
	assert.Equal(t, uint64(2000), st.TxPackets)
	assert.Equal(t, uint64(1000*64+1000*1500), st.RxBytes)
	res := stopPeer(t, p)
	assert.False(t, res.Crashed, "testpmd crashed: %+v", res)
	hs := h.Stats()
	assert.Equal(t, uint64(2000), hs.Packets)
	assert.Zero(t, hs.BadDescriptors)
}

func TestInteropTestpmdClientToServer(t *testing.T) {
	sock := sockPath(t)
	h, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	p := startPeer(t, testpmd.Config{Role: "client", Socket: sock, Forward: "io"})
	require.NoError(t, h.WaitLinkUp(waitCtx(t, 30*time.Second)))
	require.NoError(t, p.StartForwarding())
	echo(t, h, []int{64, 1500}, 1000)

	// DPDK counts a transmitted burst after publishing it: stop its
	// forwarding core first so the counters are final.
	require.NoError(t, p.StopForwarding())
	st, err := p.Stats(waitCtx(t, 10*time.Second))
	require.NoError(t, err)
	assert.Equal(t, uint64(2000), st.RxPackets)
	assert.Equal(t, uint64(2000), st.TxPackets)
	res := stopPeer(t, p)
	assert.False(t, res.Crashed, "testpmd crashed: %+v", res)
	assert.Equal(t, uint64(2000), h.Stats().Packets)
}

func TestInteropJumboChainsIntoTestpmd(t *testing.T) {
	sock := sockPath(t)
	p := startPeer(t, testpmd.Config{Role: "server", Socket: sock, Forward: "rxonly"})
	// 2048-byte buffers: every 9000-byte frame is a chain of 5 descriptors.
	h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, BufferSize: 2048, WriteTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	require.NoError(t, p.WaitConnected(waitCtx(t, 30*time.Second)))
	require.NoError(t, p.StartForwarding())
	const n = 2000
	for i := 0; i < n; i++ {
		require.NoError(t, h.WritePacketData(frame(i, 9000)), "write %d", i)
	}
	ctx := waitCtx(t, 20*time.Second)
	var st testpmd.Stats
	for {
		st, err = p.Stats(ctx)
		require.NoError(t, err)
		if st.RxPackets >= n || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Equal(t, uint64(n), st.RxPackets)
	assert.Equal(t, uint64(n*9000), st.RxBytes)
	assert.Zero(t, st.RxErrors)
	res := stopPeer(t, p)
	assert.False(t, res.Crashed, "testpmd crashed: %+v", res)
	assert.Equal(t, uint64(n), h.Stats().TxPackets)
}

func TestInteropTestpmdTxonlyIntoHandle(t *testing.T) {
	sock := sockPath(t)
	h, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ReadTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	defer h.Close()
	p := startPeer(t, testpmd.Config{Role: "client", Socket: sock, Forward: "txonly", TxPktLen: 64})
	require.NoError(t, h.WaitLinkUp(waitCtx(t, 30*time.Second)))

	done := make(chan struct{})
	var count, wrongLen uint64
	go func() {
		defer close(done)
		idle := 0
		for {
			data, _, err := h.ZeroCopyReadPacketData()
			if err != nil {
				// After testpmd stopped sending: two quiet timeouts in a
				// row mean the ring is drained.
				if idle++; idle == 4 {
					return
				}
				continue
			}
			idle = 0
			count++
			if len(data) != 64 {
				wrongLen++
			}
		}
	}()
	require.NoError(t, p.StartForwarding())
	time.Sleep(2 * time.Second)
	require.NoError(t, p.StopForwarding())
	st, err := p.Stats(waitCtx(t, 10*time.Second))
	require.NoError(t, err)
	<-done
	require.NotZero(t, st.TxPackets)
	assert.Equal(t, st.TxPackets, count, "frames testpmd sent vs frames we read")
	assert.Equal(t, st.TxPackets, h.Stats().Packets)
	assert.Zero(t, wrongLen)
	assert.Zero(t, h.Stats().BadDescriptors)
	t.Logf("testpmd txonly sent %d frames in 2 s; all %d received", st.TxPackets, count)
	res := stopPeer(t, p)
	assert.False(t, res.Crashed, "testpmd crashed: %+v", res)
}

func TestInteropSecretMismatch(t *testing.T) {
	sock := sockPath(t)
	p := startPeer(t, testpmd.Config{Role: "server", Socket: sock, Secret: "dpdk-secret", Forward: "rxonly"})
	_, err := memifpcap.Open(&memifpcap.Config{Socket: sock, Secret: "not-the-secret"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Incorrect secret")
	_, err = memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Secret required")
	h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, Secret: "dpdk-secret"})
	require.NoError(t, err, "the right secret connects")
	defer h.Close()
	stopPeer(t, p)
}

// frameEcho sends batches of frames built in place by a FrameWriter
// through testpmd's io forwarding and checks each comes back intact. As a
// client, the FrameWriter's descriptors point into the middle of its
// buffers, which DPDK must honour; as a server it moves every frame to the
// start of the client's buffer.
func frameEcho(t *testing.T, h *memifpcap.Handle) {
	t.Helper()
	w := h.NewFrameWriter()
	sizes := []int{64, 200, 1500, 2000}
	const batches, batch = 50, 32
	for b := 0; b < batches; b++ {
		for i := 0; i < batch; i++ {
			seq := b*batch + i
			require.NoError(t, gopacket.SerializeLayers(w, gopacket.SerializeOptions{}, gopacket.Payload(frame(seq, sizes[seq%len(sizes)]))))
			require.NoError(t, w.Queue())
		}
		require.NoError(t, w.Flush())
		for i := 0; i < batch; i++ {
			seq := b*batch + i
			data, _, err := h.ReadPacketData()
			require.NoError(t, err, "echo of frame %d", seq)
			require.Equal(t, frame(seq, sizes[seq%len(sizes)]), data, "echo of frame %d", seq)
		}
	}
	assert.Equal(t, uint64(batches*batch), h.Stats().TxPackets)
}

func TestInteropFrameWriterClientToTestpmdServer(t *testing.T) {
	sock := abstractName(t)
	p := startPeer(t, testpmd.Config{Role: "server", Socket: sock, Forward: "io"})
	h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	require.NoError(t, p.WaitConnected(waitCtx(t, 30*time.Second)))
	require.NoError(t, p.StartForwarding())
	frameEcho(t, h)
	require.NoError(t, p.StopForwarding())
	res := stopPeer(t, p)
	assert.False(t, res.Crashed, "testpmd crashed: %+v", res)
}

func TestInteropFrameWriterServerToTestpmdClient(t *testing.T) {
	sock := sockPath(t)
	h, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	p := startPeer(t, testpmd.Config{Role: "client", Socket: sock, Forward: "io"})
	require.NoError(t, h.WaitLinkUp(waitCtx(t, 30*time.Second)))
	require.NoError(t, p.StartForwarding())
	frameEcho(t, h)
	require.NoError(t, p.StopForwarding())
	res := stopPeer(t, p)
	assert.False(t, res.Crashed, "testpmd crashed: %+v", res)
}
