package memifpcap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// mergedRead is one Handle-level read: it appends what it got (the queue
// and the frame's bytes, copied) to got.
type mergedRead func(h *memifpcap.Handle, got []mergedFrame) ([]mergedFrame, error)

type mergedFrame struct {
	queue int
	data  []byte
}

func ancQueue(ci gopacket.CaptureInfo) (int, error) {
	if len(ci.AncillaryData) == 0 {
		return 0, errors.New("no AncillaryData")
	}
	aq, ok := ci.AncillaryData[0].(memifpcap.AncillaryQueue)
	if !ok {
		return 0, fmt.Errorf("AncillaryData[0] = %#v", ci.AncillaryData[0])
	}
	return aq.Queue, nil
}

func single(data []byte, ci gopacket.CaptureInfo, err error, got []mergedFrame) ([]mergedFrame, error) {
	if err != nil {
		return got, err
	}
	q, err := ancQueue(ci)
	return append(got, mergedFrame{q, bytes.Clone(data)}), err
}

func batchRead(poll bool) mergedRead {
	ms := make([]memifpcap.Message, 16)
	return func(h *memifpcap.Handle, got []mergedFrame) ([]mergedFrame, error) {
		read := h.ReadBatch
		if poll {
			read = h.PollBatch
		}
		n, err := read(ms)
		for _, m := range ms[:n] {
			got = append(got, mergedFrame{m.Queue, bytes.Join(m.Buffers, nil)})
		}
		return got, err
	}
}

func mergedReads() map[string]func() mergedRead {
	return map[string]func() mergedRead{
		"ZeroCopyReadPacketData": func() mergedRead {
			return func(h *memifpcap.Handle, got []mergedFrame) ([]mergedFrame, error) {
				data, ci, err := h.ZeroCopyReadPacketData()
				return single(data, ci, err, got)
			}
		},
		"ReadPacketData": func() mergedRead {
			return func(h *memifpcap.Handle, got []mergedFrame) ([]mergedFrame, error) {
				data, ci, err := h.ReadPacketData()
				return single(data, ci, err, got)
			}
		},
		"ReadPacketDataTo": func() mergedRead {
			buf := make([]byte, 9000)
			return func(h *memifpcap.Handle, got []mergedFrame) ([]mergedFrame, error) {
				ci, err := h.ReadPacketDataTo(buf)
				return single(buf[:ci.CaptureLength], ci, err, got)
			}
		},
		"NewPacketSource": func() mergedRead {
			var ps *gopacket.PacketSource
			return func(h *memifpcap.Handle, got []mergedFrame) ([]mergedFrame, error) {
				if ps == nil {
					ps = gopacket.NewPacketSource(h, h.LinkType())
				}
				p, err := ps.NextPacket()
				if err != nil {
					return got, err
				}
				md := p.Metadata()
				return single(p.Data(), md.CaptureInfo, nil, got)
			}
		},
		"ReadBatch": func() mergedRead { return batchRead(false) },
		"PollBatch": func() mergedRead { return batchRead(true) },
	}
}

// mergedTransfer has a writer per transmit queue of cli send counts[q]
// distinct frames, and reads them all through srv's Handle-level read:
// every frame exactly once, each queue's in order, the queue right.
func mergedTransfer(t *testing.T, cli, srv *memifpcap.Handle, counts []int, read mergedRead) {
	t.Helper()
	total := 0
	errc := make(chan error, len(counts)+1)
	for q, n := range counts {
		total += n
		go func() {
			for i := range n {
				if err := cli.TxQueue(q).WritePacketData(queueFrame(q, i, frameLen(i))); err != nil {
					errc <- fmt.Errorf("queue %d: write %d: %w", q, i, err)
					return
				}
			}
			errc <- nil
		}()
	}
	done := make(chan error, 1)
	go func() {
		next := make([]int, len(counts))
		var got []mergedFrame
		for seen := 0; seen < total; {
			var err error
			got, err = read(srv, got[:0])
			if err != nil {
				done <- fmt.Errorf("after %d frames: %w", seen, err)
				return
			}
			for _, f := range got {
				q := f.queue
				if q < 0 || q >= len(counts) || next[q] >= counts[q] {
					done <- fmt.Errorf("frame from queue %d beyond what was sent (%v)", q, next)
					return
				}
				if want := queueFrame(q, next[q], frameLen(next[q])); !bytes.Equal(f.data, want) {
					seq := -1
					if len(f.data) >= 5 {
						seq = int(binary.BigEndian.Uint32(f.data))
					}
					done <- fmt.Errorf("queue %d: frame %d: got %d bytes (seq %d), want %d", q, next[q], len(f.data), seq, len(want))
					return
				}
				next[q]++
				seen++
			}
		}
		done <- nil
	}()
	timeout := time.After(60 * time.Second)
	for pending := len(counts) + 1; pending > 0; pending-- {
		select {
		case err := <-errc:
			require.NoError(t, err)
		case err := <-done:
			require.NoError(t, err)
		case <-timeout:
			t.Fatal("merged transfer did not finish")
		}
	}
}

func multiQueuePair(t *testing.T, srvQueues, cliQueues int, readTimeout time.Duration) (*memifpcap.Handle, *memifpcap.Handle) {
	sock := sockPath(t)
	srv, cli := pair(t,
		memifpcap.Config{Socket: sock, RxQueues: srvQueues, TxQueues: srvQueues, RingSize: 64, ReadTimeout: readTimeout},
		memifpcap.Config{Socket: sock, RxQueues: cliQueues, TxQueues: cliQueues, RingSize: 64})
	return srv, cli
}

// Four queues each way: every Handle-level read, gopacket's PacketSource
// included, delivers every queue's frames.
func TestMergedReadsEveryQueue(t *testing.T) {
	t.Parallel()
	for name, mk := range mergedReads() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, cli := multiQueuePair(t, 4, 4, 30*time.Second)
			mergedTransfer(t, cli, srv, []int{500, 501, 502, 503}, mk())
			var sum uint64
			for q := range 4 {
				sum += srv.RxQueue(q).Stats().Packets
			}
			require.Equal(t, uint64(2006), sum)
			require.Equal(t, sum, srv.Stats().Packets)
		})
	}
}

// Each receive mode delivers everything through the merged read.
func TestMergedReadRxModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []memifpcap.RxMode{memifpcap.RxModePoll, memifpcap.RxModeAdaptive, memifpcap.RxModeInterrupt} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			srv, cli := multiQueuePair(t, 4, 4, 30*time.Second)
			for q := range 4 {
				require.NoError(t, srv.RxQueue(q).SetRxMode(mode))
			}
			mergedTransfer(t, cli, srv, []int{300, 0, 300, 1}, mergedReads()["ZeroCopyReadPacketData"]())
			// Idle, then frames on one queue only: the sleeping read
			// wakes for them.
			time.Sleep(50 * time.Millisecond)
			mergedTransfer(t, cli, srv, []int{0, 0, 0, 20}, mergedReads()["ReadBatch"]())
			if mode == memifpcap.RxModeInterrupt {
				// A read that finds nothing sleeps on the interrupt: give
				// one time to fall asleep before its frame comes (a
				// loaded machine may need several tries).
				for try := 0; try < 20 && srv.Stats().InterruptsReceived == 0; try++ {
					got := make(chan error, 1)
					go func() { _, _, err := srv.ReadPacketData(); got <- err }()
					time.Sleep(100 * time.Millisecond)
					require.NoError(t, cli.WritePacketData(frame(try, 100)))
					require.NoError(t, result(t, got, 20*time.Second, "the sleeping read"))
				}
				require.NotZero(t, srv.Stats().InterruptsReceived)
			}
		})
	}
}

// A server with four queues whose client connects two: the missing
// queues are skipped.
func TestMergedReadFewerQueues(t *testing.T) {
	t.Parallel()
	srv, cli := multiQueuePair(t, 4, 2, 30*time.Second)
	rx, _ := srv.ConnectedQueues()
	require.Equal(t, 2, rx)
	mergedTransfer(t, cli, srv, []int{400, 401}, mergedReads()["ZeroCopyReadPacketData"]())
	mergedTransfer(t, cli, srv, []int{100, 100}, mergedReads()["PollBatch"]())
}

// One ErrLinkDown per drop, whatever number of queues; the slices of the
// last zero-copy read stay mapped across the drop.
func TestMergedReadLinkDownOnce(t *testing.T) {
	t.Parallel()
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			srv, cli := multiQueuePair(t, 4, 4, 300*time.Millisecond)
			// Every queue has been read: each holds a down report.
			var held [][]byte
			ms := make([]memifpcap.Message, 4)
			for q := range 4 {
				require.NoError(t, cli.TxQueue(q).WritePacketData(queueFrame(q, 0, 1000)))
				if batch {
					n, err := srv.ReadBatch(ms)
					require.NoError(t, err)
					require.Equal(t, 1, n)
					require.Equal(t, q, ms[0].Queue)
					held = ms[0].Buffers
				} else {
					data, ci, err := srv.ZeroCopyReadPacketData()
					require.NoError(t, err)
					aq, err := ancQueue(ci)
					require.NoError(t, err)
					require.Equal(t, q, aq)
					held = [][]byte{data}
				}
			}
			require.NoError(t, cli.Close())
			deadline := time.Now().Add(10 * time.Second)
			for srv.Stats().Disconnects == 0 {
				require.True(t, time.Now().Before(deadline), "no disconnect")
				time.Sleep(time.Millisecond)
			}
			// Each held view is touched where it lies (touch turns a
			// fault into a test failure), before anything copies it.
			want := queueFrame(3, 0, 1000)
			for _, v := range held {
				touch(t, "held view", v, want[:len(v)])
				want = want[len(v):]
			}
			require.Empty(t, want)
			_, _, err := srv.ZeroCopyReadPacketData()
			require.ErrorIs(t, err, memifpcap.ErrLinkDown)
			for range 2 {
				_, _, err = srv.ZeroCopyReadPacketData()
				require.ErrorIs(t, err, memifpcap.ErrTimeout)
			}
			_, err = srv.PollBatch(ms)
			require.ErrorIs(t, err, memifpcap.ErrLinkDown)
			require.NotErrorIs(t, err, memifpcap.ErrTimeout)
			require.NoError(t, srv.Close())
			_, _, err = srv.ReadPacketData()
			require.ErrorIs(t, err, io.EOF)
		})
	}
}

// The merged zero-copy and batch reads allocate nothing per frame.
func TestMergedReadsDoNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	srv, cli := multiQueuePair(t, 4, 4, 10*time.Second)
	ms := make([]memifpcap.Message, 8)
	for i := range ms {
		ms[i].Buffers = make([][]byte, 0, 8)
	}
	buf := make([]byte, 9000)
	small := queueFrame(0, 0, 64)
	q := 0
	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"zero-copy", func() error {
			_, _, err := srv.ZeroCopyReadPacketData()
			return err
		}},
		{"read-to", func() error {
			_, err := srv.ReadPacketDataTo(buf)
			return err
		}},
		{"read batch", func() error {
			_, err := srv.ReadBatch(ms)
			return err
		}},
		{"poll batch", func() error {
			for {
				n, err := srv.PollBatch(ms)
				if n != 0 || err != nil {
					return err
				}
			}
		}},
	} {
		var err error
		allocs := testing.AllocsPerRun(1000, func() {
			// A different queue each time: the merged read must find it.
			q = (q + 1) % 4
			if e := cli.TxQueue(q).WritePacketData(small); e != nil {
				err = e
			}
			if e := tc.f(); e != nil {
				err = e
			}
		})
		require.NoError(t, err, tc.name)
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per packet, want 0", tc.name, allocs)
		}
	}
}
