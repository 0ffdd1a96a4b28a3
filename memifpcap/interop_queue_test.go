package memifpcap_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/testpmd"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// queueEcho sends n frames on transmit queue q through a peer that sends
// every frame back on the queue it came in on (testpmd io forwarding, one
// port), keeping at most window in flight, and checks that each comes back
// intact, in order, on receive queue q.
func queueEcho(h *memifpcap.Handle, q, n, size int) error {
	const window = 64
	tx, rx := h.TxQueue(q), h.RxQueue(q)
	credit := make(chan struct{}, window)
	for range window {
		credit <- struct{}{}
	}
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			<-credit
			if err := tx.WritePacketData(queueFrame(q, i, size)); err != nil {
				errc <- fmt.Errorf("queue %d: write %d: %w", q, i, err)
				return
			}
		}
		errc <- nil
	}()
	var rerr error
	for i := range n {
		data, ci, err := rx.ReadPacketData()
		if err != nil {
			rerr = fmt.Errorf("queue %d: read %d: %w", q, i, err)
			break
		}
		if want := queueFrame(q, i, size); !bytes.Equal(data, want) {
			rerr = fmt.Errorf("queue %d: frame %d: got %d bytes %x..., want %x...", q, i, len(data), data[:min(8, len(data))], want[:8])
			break
		}
		if ci.AncillaryData[0] != (memifpcap.AncillaryQueue{Queue: q}) {
			rerr = fmt.Errorf("queue %d: frame %d: AncillaryData[0] = %#v", q, i, ci.AncillaryData[0])
			break
		}
		credit <- struct{}{}
	}
	if rerr != nil {
		return rerr // the writer may be stuck on credit; the test ends anyway
	}
	return <-errc
}

// echoQueues runs queueEcho on every queue of h at once.
func echoQueues(t *testing.T, h *memifpcap.Handle, queues, n, size int) {
	t.Helper()
	errs := make([]error, queues)
	var wg sync.WaitGroup
	for q := range queues {
		wg.Add(1)
		go func() { defer wg.Done(); errs[q] = queueEcho(h, q, n, size) }()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for q := range queues {
		assert.Equal(t, uint64(n), h.RxQueue(q).Stats().Packets, "rx queue %d", q)
		assert.Equal(t, uint64(n*size), h.RxQueue(q).Stats().Bytes, "rx queue %d", q)
		assert.Equal(t, uint64(n), h.TxQueue(q).Stats().TxPackets, "tx queue %d", q)
	}
	st := h.Stats()
	assert.Equal(t, uint64(queues*n), st.Packets)
	assert.Equal(t, uint64(queues*n), st.TxPackets)
	assert.Zero(t, st.BadDescriptors)
}

func checkPeerCounts(t *testing.T, p *testpmd.Peer, packets uint64) {
	t.Helper()
	// DPDK counts a transmitted burst after publishing it: stop its
	// forwarding core first so the counters are final.
	require.NoError(t, p.StopForwarding())
	st, err := p.Stats(waitCtx(t, 10*time.Second))
	require.NoError(t, err)
	assert.Equal(t, packets, st.RxPackets)
	assert.Equal(t, packets, st.TxPackets)
	res := stopPeer(t, p)
	assert.False(t, res.Crashed, "testpmd crashed: %+v", res)
}

func TestInteropQueuesClientToTestpmdServer(t *testing.T) {
	const queues, n = 4, 500
	sock := abstractName(t)
	p := startPeer(t, testpmd.Config{Role: "server", Socket: sock, Forward: "io", Queues: queues})
	h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, RxQueues: queues, TxQueues: queues, ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	require.NoError(t, p.WaitConnected(waitCtx(t, 30*time.Second)))
	rx, tx := h.ConnectedQueues()
	require.Equal(t, [2]int{queues, queues}, [2]int{rx, tx})
	require.NoError(t, p.StartForwarding())
	echoQueues(t, h, queues, n, 128)
	checkPeerCounts(t, p, queues*n)
}

func TestInteropQueuesTestpmdClientToServer(t *testing.T) {
	const queues, n = 4, 500
	sock := sockPath(t)
	h, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RxQueues: queues, TxQueues: queues, ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	p := startPeer(t, testpmd.Config{Role: "client", Socket: sock, Forward: "io", Queues: queues})
	require.NoError(t, h.WaitLinkUp(waitCtx(t, 30*time.Second)))
	rx, tx := h.ConnectedQueues()
	require.Equal(t, [2]int{queues, queues}, [2]int{rx, tx})
	require.NoError(t, p.StartForwarding())
	echoQueues(t, h, queues, n, 128)
	checkPeerCounts(t, p, queues*n)
}

// A DPDK client in zero-copy mode offers two regions, the rings in region
// 0 and its mbuf memory (a memseg list) in region 1, and every descriptor
// points into region 1. The server reads and writes them where they are.
//
// DPDK 22.11's memseg fd (--no-huge --single-file-segments) is a memfd
// created without MFD_ALLOW_SEALING: its seals read F_SEAL_SEAL only, so
// it cannot be protected against shrinking (VPP's zero-copy regions are
// the same). A server maps it by default, with the client's defaults on
// both sides, and refuses it with RequireSealedRegions, naming the region.
func TestInteropTestpmdZeroCopyClientToServer(t *testing.T) {
	t.Run("RequireSealedRegions", func(t *testing.T) {
		sock := sockPath(t)
		h, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RequireSealedRegions: true})
		require.NoError(t, err)
		defer h.Close()
		p := startPeer(t, testpmd.Config{Role: "client", Socket: sock, Forward: "io", ZeroCopy: true})
		deadline := time.Now().Add(30 * time.Second)
		for p.HandshakeFailure() == "" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		assert.Contains(t, p.HandshakeFailure(), "Failed to map region 1")
		assert.False(t, h.LinkUp())
	})
	t.Run("default", func(t *testing.T) {
		sock := sockPath(t)
		h, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ReadTimeout: 10 * time.Second})
		require.NoError(t, err)
		defer h.Close()
		p := startPeer(t, testpmd.Config{Role: "client", Socket: sock, Forward: "io", ZeroCopy: true})
		require.NoError(t, h.WaitLinkUp(waitCtx(t, 30*time.Second)))
		require.NoError(t, p.StartForwarding())
		echoQueues(t, h, 1, 500, 1500)
		checkPeerCounts(t, p, 500)
	})
	t.Run("queues", func(t *testing.T) {
		const queues, n = 2, 500
		sock := sockPath(t)
		h, err := memifpcap.Open(&memifpcap.Config{
			Role: memifpcap.RoleServer, Socket: sock, RxQueues: queues, TxQueues: queues,
			ReadTimeout: 10 * time.Second,
		})
		require.NoError(t, err)
		defer h.Close()
		p := startPeer(t, testpmd.Config{Role: "client", Socket: sock, Forward: "io", Queues: queues, ZeroCopy: true})
		require.NoError(t, h.WaitLinkUp(waitCtx(t, 30*time.Second)))
		require.NoError(t, p.StartForwarding())
		echoQueues(t, h, queues, n, 1500)
		checkPeerCounts(t, p, queues*n)
	})
}
