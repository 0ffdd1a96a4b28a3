package memifpcap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// queueFrame is frame i of queue q: the queue in byte 4, so a frame read
// from the wrong queue is caught.
func queueFrame(q, i, length int) []byte {
	b := frame(i, length)
	b[4] = byte(q)
	return b
}

// pipe sends n frames from tx to rx, one goroutine each side, checking
// bytes, order and the AncillaryQueue of every frame.
func pipe(tx *memifpcap.TxQueue, rx *memifpcap.RxQueue, n int) error {
	q := tx.ID()
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			if err := tx.WritePacketData(queueFrame(q, i, frameLen(i))); err != nil {
				errc <- fmt.Errorf("queue %d: write %d: %w", q, i, err)
				return
			}
		}
		errc <- nil
	}()
	var rerr error
	for i := range n {
		data, ci, err := rx.ZeroCopyReadPacketData()
		if err != nil {
			rerr = fmt.Errorf("queue %d: read %d: %w", rx.ID(), i, err)
			break
		}
		if want := queueFrame(q, i, frameLen(i)); !bytes.Equal(data, want) {
			rerr = fmt.Errorf("queue %d: frame %d: got %d bytes (seq %d, queue byte %d), want %d", rx.ID(), i,
				len(data), binary.BigEndian.Uint32(data), data[4], len(want))
			break
		}
		if aq, ok := ci.AncillaryData[0].(memifpcap.AncillaryQueue); !ok || aq.Queue != rx.ID() {
			rerr = fmt.Errorf("queue %d: frame %d: AncillaryData[0] = %#v", rx.ID(), i, ci.AncillaryData[0])
			break
		}
	}
	return errors.Join(<-errc, rerr)
}

// Four queues each way, every queue its own pipeline in both directions at
// once: every frame arrives on the queue it was sent on, and every
// counter matches per queue and in total.
func TestMultiQueueGoToGo(t *testing.T) {
	const queues, n = 4, 1000
	sock := sockPath(t)
	cfg := memifpcap.Config{Socket: sock, ID: 1, RxQueues: queues, TxQueues: queues, RingSize: 256}
	srv, cli := pair(t, cfg, cfg)
	rx, tx := srv.ConnectedQueues()
	require.Equal(t, [2]int{queues, queues}, [2]int{rx, tx})
	rx, tx = cli.ConnectedQueues()
	require.Equal(t, [2]int{queues, queues}, [2]int{rx, tx})

	var wg sync.WaitGroup
	errs := make([]error, 2*queues)
	for q := range queues {
		wg.Add(2)
		go func() { defer wg.Done(); errs[2*q] = pipe(cli.TxQueue(q), srv.RxQueue(q), n+q) }()
		go func() { defer wg.Done(); errs[2*q+1] = pipe(srv.TxQueue(q), cli.RxQueue(q), n+q) }()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	var total memifpcap.Stats
	for q := range queues {
		var bytes uint64
		for i := range n + q {
			bytes += uint64(frameLen(i))
		}
		for _, h := range []*memifpcap.Handle{srv, cli} {
			rs, ts := h.RxQueue(q).Stats(), h.TxQueue(q).Stats()
			assert.Equal(t, uint64(n+q), rs.Packets, "rx queue %d packets", q)
			assert.Equal(t, bytes, rs.Bytes, "rx queue %d bytes", q)
			assert.Equal(t, uint64(0), rs.TxPackets, "rx queue %d tx packets", q)
			assert.Equal(t, uint64(n+q), ts.TxPackets, "tx queue %d packets", q)
			assert.Equal(t, bytes, ts.TxBytes, "tx queue %d bytes", q)
			assert.Equal(t, uint64(0), ts.Packets, "tx queue %d rx packets", q)
			assert.Equal(t, uint64(0), rs.BadDescriptors+ts.TxDropped)
			assert.Equal(t, uint64(1), rs.Connects)
		}
		total.Packets += uint64(n + q)
		total.Bytes += bytes
	}
	for _, h := range []*memifpcap.Handle{srv, cli} {
		st := h.Stats()
		assert.Equal(t, total.Packets, st.Packets)
		assert.Equal(t, total.Bytes, st.Bytes)
		assert.Equal(t, total.Packets, st.TxPackets)
		assert.Equal(t, total.Bytes, st.TxBytes)
	}
	// The Handle's methods are queue 0's.
	require.NoError(t, cli.WritePacketData(queueFrame(0, 7, 100)))
	data, ci, err := srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, queueFrame(0, 7, 100), data)
	require.Equal(t, memifpcap.AncillaryQueue{Queue: 0}, ci.AncillaryData[0])
	require.Equal(t, uint64(n+1), srv.RxQueue(0).Stats().Packets)
}

// A client offering more rings than the server has queues is refused as
// DPDK refuses it; a server with more queues than its client offered uses
// what it got, and its other queues have no ring.
func TestQueueCountsNegotiation(t *testing.T) {
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RxQueues: 2, TxQueues: 3, ReadTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	defer srv.Close()

	_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, RxQueues: 3, TxQueues: 3, ReconnectInterval: -1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Invalid ring index")

	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, RxQueues: 1, TxQueues: 1, ReconnectInterval: -1})
	require.NoError(t, err)
	defer cli.Close()
	rx, tx := srv.ConnectedQueues()
	require.Equal(t, [2]int{1, 1}, [2]int{rx, tx})
	require.Equal(t, 2, srv.NumRxQueues())
	require.Equal(t, 3, srv.NumTxQueues())

	err = srv.TxQueue(2).WritePacketData(frame(0, 60))
	require.ErrorIs(t, err, memifpcap.ErrNoQueue)
	require.Equal(t, uint64(1), srv.TxQueue(2).Stats().TxDropped)
	start := time.Now()
	_, _, err = srv.RxQueue(1).ReadPacketData()
	require.ErrorIs(t, err, memifpcap.ErrTimeout)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	// Queue 0 works.
	require.NoError(t, srv.WritePacketData(frame(1, 60)))
	data, _, err := cli.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, frame(1, 60), data)

	require.Nil(t, srv.RxQueue(2))
	require.Nil(t, srv.RxQueue(-1))
	require.Nil(t, srv.TxQueue(3))
}

func TestQueueConfigValidation(t *testing.T) {
	for _, c := range []struct {
		cfg  memifpcap.Config
		want string
	}{
		{memifpcap.Config{RxQueues: 256}, "RxQueues 256 is outside 1..255"},
		{memifpcap.Config{TxQueues: -1}, "TxQueues -1 is outside 1..255"},
		{memifpcap.Config{RxMode: 3}, "RxMode 3 is not"},
	} {
		_, err := memifpcap.Open(&c.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.want)
	}
	for s, want := range map[string]memifpcap.RxMode{"adaptive": memifpcap.RxModeAdaptive, "POLL": memifpcap.RxModePoll, "polling": memifpcap.RxModePoll, "interrupt": memifpcap.RxModeInterrupt} {
		m, err := memifpcap.ParseRxMode(s)
		require.NoError(t, err)
		require.Equal(t, want, m)
	}
	_, err := memifpcap.ParseRxMode("spin")
	require.Error(t, err)
}

// cpuTime is the process's user and system CPU time.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleRead measures the CPU time a read of an idle queue takes over its
// 300 ms ReadTimeout.
func idleRead(t *testing.T, h *memifpcap.Handle) time.Duration {
	before := cpuTime(t)
	start := time.Now()
	_, _, err := h.ReadPacketData()
	elapsed := time.Since(start)
	used := cpuTime(t) - before
	require.ErrorIs(t, err, memifpcap.ErrTimeout)
	require.GreaterOrEqual(t, elapsed, 300*time.Millisecond)
	t.Logf("idle read of %v used %v CPU", elapsed, used)
	return used
}

// In interrupt mode an idle read sleeps on the eventfd: it uses next to no
// CPU. Poll mode spins for the whole timeout. Every frame written to an
// interrupt-mode reader signals it (the ring is never masked); a
// poll-mode reader's ring is always masked, so none is.
func TestRxModes(t *testing.T) {
	const n = 50
	sock := sockPath(t)
	srv, cli := pair(t,
		memifpcap.Config{Socket: sock, RxMode: memifpcap.RxModeInterrupt, ReadTimeout: 300 * time.Millisecond},
		memifpcap.Config{Socket: sock, RxMode: memifpcap.RxModePoll, ReadTimeout: 300 * time.Millisecond})

	// How much CPU an idle read burns is logged, not asserted (a loaded
	// machine cannot promise CPU time); the mechanism is: the interrupt
	// counts below, and the MASK_INT flags (TestRxModeMasks).
	idleRead(t, srv)
	idleRead(t, cli)

	// Each direction delivers, and counts its interrupts exactly.
	for i := range n {
		require.NoError(t, cli.WritePacketData(frame(i, 60)))
		data, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, frame(i, 60), data)
		require.NoError(t, srv.WritePacketData(frame(i, 61)))
		data, _, err = cli.ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, frame(i, 61), data)
	}
	assert.Equal(t, uint64(n), cli.Stats().InterruptsSent, "client signals every write to an interrupt-mode server")
	assert.Equal(t, uint64(0), srv.Stats().InterruptsSent, "server never signals a polling client")
	assert.Equal(t, uint64(0), cli.Stats().InterruptsReceived)
	got := srv.RxQueue(0).Stats().InterruptsReceived
	assert.LessOrEqual(t, got, uint64(n))

	// A sleeping interrupt-mode reader is woken by the signal.
	done := make(chan error, 1)
	go func() {
		data, _, err := srv.ReadPacketData()
		if err == nil && !bytes.Equal(data, frame(99, 80)) {
			err = fmt.Errorf("got %x", data)
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // likely asleep by now; either way the frame must arrive
	require.NoError(t, cli.WritePacketData(frame(99, 80)))
	require.NoError(t, result(t, done, 20*time.Second, "the sleeping reader"))
	// One wakeup for the frame, perhaps one more for a count left pending
	// by a frame that was taken without waiting.
	after := srv.RxQueue(0).Stats().InterruptsReceived
	assert.LessOrEqual(t, after, got+2, "interrupts received went from %d to %d", got, after)

	// The mode can change per queue.
	require.NoError(t, cli.RxQueue(0).SetRxMode(memifpcap.RxModeInterrupt))
	require.Equal(t, memifpcap.RxModeInterrupt, cli.RxQueue(0).RxMode())
	idleRead(t, cli)
	sent := srv.Stats().InterruptsSent
	require.NoError(t, srv.WritePacketData(frame(100, 60)))
	_, _, err := cli.ReadPacketData()
	require.NoError(t, err)
	assert.Equal(t, sent+1, srv.Stats().InterruptsSent, "the server signals the client, now in interrupt mode")
	require.Error(t, cli.RxQueue(0).SetRxMode(7))
	require.True(t, strings.Contains(memifpcap.RxModePoll.String(), "poll"))
}

// Per-queue lifecycle: zero-copy slices held on two queues stay readable
// after the link goes down, each queue reports ErrLinkDown once, and after
// the client reconnects (to a server with three queues, of which it
// connects two) every queue carries traffic again, counters cumulative.
func TestMultiQueueLinkDownAndReconnect(t *testing.T) {
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RxQueues: 2, TxQueues: 2})
	require.NoError(t, err)
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, RxQueues: 2, TxQueues: 2,
		ReconnectInterval: 50 * time.Millisecond, ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer cli.Close()
	ctx := waitCtx(t, 10*time.Second)
	require.NoError(t, srv.WaitLinkUp(ctx))

	held := make([][]byte, 2)
	for q := range 2 {
		require.NoError(t, srv.TxQueue(q).WritePacketData(queueFrame(q, 1, 300)))
		data, _, err := cli.RxQueue(q).ZeroCopyReadPacketData()
		require.NoError(t, err)
		held[q] = data
	}
	require.NoError(t, srv.Close())
	for q := range 2 {
		// Still mapped: the reader holds a pin until its next read.
		require.Equal(t, queueFrame(q, 1, 300), held[q])
	}
	for q := range 2 {
		_, _, err := cli.RxQueue(q).ReadPacketData()
		require.ErrorIs(t, err, memifpcap.ErrLinkDown, "queue %d", q)
		require.Contains(t, err.Error(), "Device closed")
	}
	require.ErrorIs(t, cli.TxQueue(1).WritePacketData(frame(0, 60)), memifpcap.ErrLinkDown)

	srv2, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RxQueues: 3, TxQueues: 3})
	require.NoError(t, err)
	defer srv2.Close()
	require.NoError(t, srv2.WaitLinkUp(ctx))
	require.NoError(t, cli.WaitLinkUp(ctx))
	rx, tx := srv2.ConnectedQueues()
	require.Equal(t, [2]int{2, 2}, [2]int{rx, tx})
	for q := range 2 {
		require.NoError(t, pipe(cli.TxQueue(q), srv2.RxQueue(q), 100))
		require.NoError(t, pipe(srv2.TxQueue(q), cli.RxQueue(q), 100))
		st := cli.RxQueue(q).Stats()
		require.Equal(t, uint64(101), st.Packets, "queue %d", q)
		require.Equal(t, uint64(2), st.Connects)
		require.Equal(t, uint64(1), st.Disconnects)
	}
	require.ErrorIs(t, srv2.TxQueue(2).WritePacketData(frame(0, 60)), memifpcap.ErrNoQueue)
}
