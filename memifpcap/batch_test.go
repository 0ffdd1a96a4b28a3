package memifpcap_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/ring"
)

// joined is the frame a message's buffers hold.
func joined(m memifpcap.Message) []byte { return bytes.Join(m.Buffers, nil) }

// split cuts f into pieces of at most k bytes, as WriteBatch's Buffers.
func split(f []byte, k int) [][]byte {
	var out [][]byte
	for len(f) > k {
		out = append(out, f[:k])
		f = f[k:]
	}
	return append(out, f)
}

// Frames of every length class go through WriteBatch (as one buffer, or
// cut into 1000-byte pieces) and come out of ReadBatch byte for byte, in
// order, one message per frame and one buffer per 2048-byte descriptor, in
// both directions.
func TestBatchBothDirections(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	for _, dir := range []struct {
		name   string
		tx, rx *memifpcap.Handle
	}{{"client to server", cli, srv}, {"server to client", srv, cli}} {
		t.Run(dir.name, func(t *testing.T) {
			const total = 600
			errc := make(chan error, 1)
			go func() {
				out := make([]memifpcap.Message, 16)
				for i := 0; i < total; {
					k := min(len(out), total-i)
					for j := range out[:k] {
						f := frame(i+j, frameLen(i+j))
						if (i+j)%2 == 0 {
							out[j].Buffers = [][]byte{f}
						} else {
							out[j].Buffers = split(f, 1000)
						}
					}
					n, err := dir.tx.WriteBatch(out[:k])
					if err != nil {
						errc <- fmt.Errorf("WriteBatch at %d: %w", i, err)
						return
					}
					for j := range out[:n] {
						if out[j].N != frameLen(i+j) {
							errc <- fmt.Errorf("frame %d: N = %d, want %d", i+j, out[j].N, frameLen(i+j))
							return
						}
					}
					i += n
				}
				errc <- nil
			}()
			in := make([]memifpcap.Message, 8)
			batches := 0
			var prev time.Time
			for i := 0; i < total; {
				n, err := dir.rx.ReadBatch(in)
				require.NoError(t, err)
				require.True(t, n >= 1 && n <= len(in), "ReadBatch returned %d", n)
				batches++
				returned := time.Now()
				for _, m := range in[:n] {
					want := frame(i, frameLen(i))
					require.Equal(t, want, joined(m), "frame %d", i)
					require.Len(t, m.Buffers, (len(want)+2047)/2048, "frame %d: one buffer per descriptor", i)
					require.Equal(t, len(want), m.N)
					require.Equal(t, len(want), m.CaptureInfo.Length)
					require.Equal(t, len(want), m.CaptureInfo.CaptureLength)
					require.False(t, m.CaptureInfo.Timestamp.IsZero())
					// Each frame its own stamp, in order, none after the
					// read that took it (how they are spread:
					// stamp_internal_test.go, TestSingleReadStamps).
					ts := m.CaptureInfo.Timestamp
					require.False(t, ts.Before(prev), "frame %d stamped before the frame before it", i)
					require.False(t, ts.After(returned), "frame %d stamped after its read returned", i)
					prev = ts
					i++
				}
			}
			require.NoError(t, <-errc)
			t.Logf("%d frames in %d batches", total, batches)
		})
	}
	st := srv.Stats()
	require.Equal(t, uint64(600), st.Packets)
	require.Equal(t, uint64(600), st.TxPackets)
}

// A batch published at once is read in one ReadBatch; its slots go back to
// the peer only at the next read, so the writer sees the ring full until
// then.
func TestBatchSlotsReleasedOnNextRead(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock},
		memifpcap.Config{Socket: sock, RingSize: 8, WriteTimeout: 50 * time.Millisecond})
	out := make([]memifpcap.Message, 10)
	for i := range out {
		out[i].Buffers = [][]byte{frame(i, 64)}
	}
	n, err := cli.WriteBatch(out)
	require.NoError(t, err)
	require.Equal(t, 8, n, "a full ring ends the batch early without an error")
	in := make([]memifpcap.Message, 16)
	got, err := srv.ReadBatch(in)
	require.NoError(t, err)
	require.Equal(t, 8, got)
	for i, m := range in[:got] {
		require.Equal(t, frame(i, 64), joined(m))
	}
	// The 8 slots are still held by the reader.
	_, err = cli.WriteBatch(out[8:])
	require.ErrorIs(t, err, memifpcap.ErrTimeout)
	// The next read hands them back (and finds nothing).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err = srv.PollBatch(in)
	require.NoError(t, err)
	require.Equal(t, 0, got)
	for {
		n, err = cli.WriteBatch(out[8:])
		if err == nil {
			break
		}
		require.NoError(t, ctx.Err(), "slots never came back: %v", err)
	}
	require.Equal(t, 2, n)
	got, err = srv.ReadBatch(in)
	require.NoError(t, err)
	require.Equal(t, 2, got)
	require.Equal(t, frame(8, 64), joined(in[0]))
	require.Equal(t, frame(9, 64), joined(in[1]))
}

// An empty frame ends the batch: the frames before it are sent, it is
// counted as dropped, and the error names it.
func TestWriteBatchEmptyFrame(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	out := []memifpcap.Message{
		{Buffers: [][]byte{frame(0, 64)}},
		{Buffers: [][]byte{{}, nil}},
		{Buffers: [][]byte{frame(2, 64)}},
	}
	n, err := cli.WriteBatch(out)
	require.Equal(t, 1, n)
	require.ErrorIs(t, err, ring.ErrEmptyFrame)
	require.ErrorContains(t, err, "message 1")
	var be *memifpcap.BatchError
	require.ErrorAs(t, err, &be)
	require.Equal(t, 1, be.Index)
	require.Equal(t, uint64(1), cli.Stats().TxDropped)
	require.Equal(t, uint64(1), cli.Stats().TxPackets)
	in := make([]memifpcap.Message, 4)
	got, err := srv.ReadBatch(in)
	require.NoError(t, err)
	require.Equal(t, 1, got)
	require.Equal(t, frame(0, 64), joined(in[0]))
	n, err = cli.WriteBatch(out[:0])
	require.NoError(t, err)
	require.Equal(t, 0, n)
}

// SnapLen trims the views of a chained packet to exactly SnapLen bytes.
func TestReadBatchSnapLen(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock, SnapLen: 3000}, memifpcap.Config{Socket: sock})
	f := frame(7, 9000)
	_, err := cli.WriteBatch([]memifpcap.Message{{Buffers: [][]byte{f}}})
	require.NoError(t, err)
	in := make([]memifpcap.Message, 2)
	n, err := srv.ReadBatch(in)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, f[:3000], joined(in[0]))
	require.Len(t, in[0].Buffers, 2)
	require.Equal(t, 3000, in[0].CaptureInfo.CaptureLength)
	require.Equal(t, 9000, in[0].CaptureInfo.Length)
	require.Equal(t, 9000, in[0].N)
	require.Equal(t, uint64(1), srv.Stats().Truncated)
}

// PollBatch does not wait, and reports a link that is down; ReadBatch
// after Close is io.EOF like every read.
func TestPollBatch(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock, ReconnectInterval: -1})
	in := make([]memifpcap.Message, 4)
	start := time.Now()
	n, err := srv.PollBatch(in)
	require.NoError(t, err)
	require.Equal(t, 0, n)
	require.Less(t, time.Since(start), 20*time.Second, "PollBatch waited (it must not)")
	require.NoError(t, cli.WritePacketData(frame(1, 100)))
	require.Eventually(t, func() bool {
		n, err = srv.PollBatch(in)
		return err != nil || n == 1
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, frame(1, 100), joined(in[0]))
	require.NoError(t, cli.Close())
	require.Eventually(t, func() bool {
		_, err = srv.PollBatch(in)
		return err != nil
	}, 5*time.Second, time.Millisecond)
	require.True(t, errors.Is(err, memifpcap.ErrLinkDown), "got %v", err)
	require.NoError(t, srv.Close())
	_, err = srv.ReadBatch(in)
	require.Error(t, err)
}

// The batch paths and every single-packet read path do not allocate per
// packet.
func TestBatchDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	small, jumbo := frame(1, 64), frame(2, 9000)
	out := make([]memifpcap.Message, 32)
	for i := range out {
		switch i % 3 {
		case 0:
			out[i].Buffers = [][]byte{small}
		case 1:
			out[i].Buffers = [][]byte{small[:14], small[14:]}
		default:
			out[i].Buffers = [][]byte{jumbo}
		}
	}
	in := make([]memifpcap.Message, 32)
	buf := make([]byte, 9000)
	// roundTrip sends out from tx and reads all of it on rx.
	roundTrip := func(tx, rx *memifpcap.Handle) error {
		sent := 0
		for sent < len(out) {
			n, err := tx.WriteBatch(out[sent:])
			if err != nil {
				return err
			}
			sent += n
			for got := 0; got < n; {
				k, err := rx.ReadBatch(in)
				if err != nil {
					return err
				}
				got += k
			}
		}
		return nil
	}
	// Warm up: the messages' Buffers grow to the longest chain once.
	require.NoError(t, roundTrip(cli, srv))
	require.NoError(t, roundTrip(srv, cli))
	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"WriteBatch+ReadBatch client to server", func() error { return roundTrip(cli, srv) }},
		{"WriteBatch+ReadBatch server to client", func() error { return roundTrip(srv, cli) }},
		{"PollBatch on an empty ring", func() error {
			n, err := srv.PollBatch(in)
			if err == nil && n != 0 {
				err = fmt.Errorf("PollBatch read %d", n)
			}
			return err
		}},
		{"WritePacketData+ReadPacketDataTo 64", func() error {
			if err := cli.WritePacketData(small); err != nil {
				return err
			}
			ci, err := srv.ReadPacketDataTo(buf)
			if err == nil && ci.CaptureLength != 64 {
				err = fmt.Errorf("read %d bytes", ci.CaptureLength)
			}
			return err
		}},
		{"WritePacketData+ZeroCopyReadPacketData 64", func() error {
			if err := srv.WritePacketData(small); err != nil {
				return err
			}
			_, _, err := cli.ZeroCopyReadPacketData()
			return err
		}},
	} {
		var err error
		allocs := testing.AllocsPerRun(200, func() {
			if e := tc.f(); e != nil {
				err = e
			}
		})
		require.NoError(t, err, tc.name)
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per run, want 0", tc.name, allocs)
		}
	}
}

// BenchmarkBatch64 measures 64-byte frames in batches of 32 and of 256
// (memifperf -batch 256), each direction: WriteBatch, then ReadBatch until
// the batch is read, in one goroutine, so what shows is the Handle's own
// work per frame, over the ring's (ring.BenchmarkRingBurst).
func BenchmarkBatch64(b *testing.B) {
	for _, dir := range []string{"C2S", "S2C"} {
		for _, batch := range []int{32, 256} {
			b.Run(fmt.Sprintf("%s/%d", dir, batch), func(b *testing.B) { benchBatch(b, dir == "C2S", batch) })
		}
	}
}

func benchBatch(b *testing.B, c2s bool, batch int) {
	sock := b.TempDir() + "/memif.sock"
	// No linger: the last batch read is still held (released at the next
	// read), and Close would wait a second for it.
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, CloseLinger: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, CloseLinger: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	for _, h := range []*memifpcap.Handle{srv, cli} {
		if err := h.WaitLinkUp(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	tx, rx := cli, srv
	if !c2s {
		tx, rx = srv, cli
	}
	out := make([]memifpcap.Message, batch)
	for i := range out {
		out[i].Buffers = [][]byte{frame(i, 64)}
	}
	in := make([]memifpcap.Message, batch)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(len(out), b.N-done)
		n, err := tx.WriteBatch(out[:k])
		if err != nil {
			b.Fatal(err)
		}
		for got := 0; got < n; {
			m, err := rx.ReadBatch(in)
			if err != nil {
				b.Fatal(err)
			}
			got += m
		}
		done += n
	}
}
