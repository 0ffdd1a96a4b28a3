package memifpcap

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/ring"
)

// Only a ring's consumer writes its MASK_INT (the receiver sets it to ask
// for no interrupts: libmemif memif_set_rx_mode, DPDK memif_rx_queue_intr_disable). A polling reader keeps
// it set on the rings it reads; a client never touches the flags of the
// C2S rings its server reads, whatever its own mode; each queue follows its
// own mode.
func TestRxModeMasks(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "memif.sock")
	srv, err := Open(&Config{Role: RoleServer, Socket: sock, RxQueues: 2, TxQueues: 2,
		RxMode: RxModeInterrupt, ReadTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	cli, err := Open(&Config{Socket: sock, RxQueues: 2, TxQueues: 2,
		RxMode: RxModePoll, ReadTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))

	s := cli.sess.Load()
	require.Len(t, s.rx, 2)
	require.Len(t, s.tx, 2)
	masked := func(r *ring.Ring) bool { return r.Flags()&ring.RingFlagMaskInt != 0 }
	check := func(when string, c2sMasked [2]bool) {
		t.Helper()
		for i := range 2 {
			require.True(t, masked(s.rx[i].ring), "%s: S2C ring %d (client polls it) not masked", when, i)
			require.Equal(t, c2sMasked[i], masked(s.tx[i].ring), "%s: C2S ring %d MASK_INT", when, i)
		}
	}
	check("connected", [2]bool{false, false})

	// A polling read: the flags stay as they are all along.
	done := make(chan error, 1)
	go func() { _, _, err := cli.RxQueue(1).ReadPacketData(); done <- err }()
	for range 20 {
		check("during a polling read", [2]bool{false, false})
		time.Sleep(5 * time.Millisecond)
	}
	require.True(t, errors.Is(<-done, ErrTimeout))

	// Traffic both ways on both queues changes nothing.
	for q := range 2 {
		require.NoError(t, cli.TxQueue(q).WritePacketData(make([]byte, 60)))
		_, _, err := srv.RxQueue(q).ReadPacketData()
		require.NoError(t, err)
		require.NoError(t, srv.TxQueue(q).WritePacketData(make([]byte, 60)))
		_, _, err = cli.RxQueue(q).ReadPacketData()
		require.NoError(t, err)
	}
	check("after traffic", [2]bool{false, false})
	require.Equal(t, uint64(0), srv.Stats().InterruptsSent)
	require.Equal(t, uint64(2), cli.Stats().InterruptsSent)

	// The server's queue 0 turns to polling: its next wait masks C2S ring
	// 0; ring 1 stays in interrupt mode.
	require.NoError(t, srv.RxQueue(0).SetRxMode(RxModePoll))
	_, _, err = srv.RxQueue(0).ReadPacketData()
	require.True(t, errors.Is(err, ErrTimeout))
	check("server queue 0 polling", [2]bool{true, false})
	require.NoError(t, cli.TxQueue(0).WritePacketData(make([]byte, 60)))
	require.NoError(t, cli.TxQueue(1).WritePacketData(make([]byte, 60)))
	require.Equal(t, uint64(3), cli.Stats().InterruptsSent, "only queue 1 is signalled")
	require.Equal(t, uint64(1), cli.TxQueue(0).Stats().InterruptsSent)
	require.Equal(t, uint64(2), cli.TxQueue(1).Stats().InterruptsSent)
}
