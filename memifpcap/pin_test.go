package memifpcap_test

import (
	"bytes"
	"fmt"
	"io"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// A slice the library handed out stays mapped until the documented end of
// its life, whatever the peer does: these tests read, make the peer vanish
// and wait until teardown has run (and, for a client, until it has
// reconnected to a new server), then touch every byte they were given.
// No timing is involved: the order of events is forced.

// pinFrames is what the peer sends before it vanishes: single-slot frames
// and one chain (2048-byte buffers).
var pinFrames = []int{60, 1500, 5000, 64, 2048}

// touch reads every byte of b with faults turned into panics, so that an
// unmapped slice fails the test instead of killing the process.
func touch(t *testing.T, what string, got, want []byte) {
	t.Helper()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	var fault any
	func() {
		defer func() { fault = recover() }()
		got = bytes.Clone(got)
	}()
	require.Nil(t, fault, "%s: the slice faulted: its memory was unmapped", what)
	require.Equal(t, want, got, "%s: bytes changed under the caller", what)
}

// waitDisconnects waits until h has counted n link losses: teardown has
// run to its end.
func waitDisconnects(t *testing.T, h *memifpcap.Handle, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return h.Stats().Disconnects >= n }, 20*time.Second, time.Millisecond,
		"the link never went down")
}

// pinCase is one API that hands out shared memory: read takes the frames
// the peer sent and returns the slices, in order, that must stay valid.
type pinCase struct {
	name  string
	queue int // the queue the peer sends on
	read  func(t *testing.T, h *memifpcap.Handle) [][]byte
}

var pinCases = []pinCase{
	{"ReadBatch", 0, func(t *testing.T, h *memifpcap.Handle) [][]byte {
		return readBatchViews(t, h.RxQueue(0).ReadBatch)
	}},
	{"PollBatch", 0, func(t *testing.T, h *memifpcap.Handle) [][]byte {
		return readBatchViews(t, h.RxQueue(0).PollBatch)
	}},
	{"HandleReadBatch", 0, func(t *testing.T, h *memifpcap.Handle) [][]byte {
		return readBatchViews(t, h.ReadBatch)
	}},
	{"ZeroCopyReadPacketData", 0, func(t *testing.T, h *memifpcap.Handle) [][]byte {
		// Only the last frame read is still valid: read all but the
		// last with the copying read, then the last zero-copy.
		for range pinFrames[:len(pinFrames)-1] {
			_, _, err := h.ReadPacketData()
			require.NoError(t, err)
		}
		data, _, err := h.ZeroCopyReadPacketData()
		require.NoError(t, err)
		return [][]byte{data}
	}},
	{"RxQueue1ReadBatch", 1, func(t *testing.T, h *memifpcap.Handle) [][]byte {
		return readBatchViews(t, h.RxQueue(1).ReadBatch)
	}},
	{"RxQueueZeroCopy", 1, func(t *testing.T, h *memifpcap.Handle) [][]byte {
		q := h.RxQueue(1)
		for range pinFrames[:len(pinFrames)-1] {
			_, _, err := q.ReadPacketData()
			require.NoError(t, err)
		}
		data, _, err := q.ZeroCopyReadPacketData()
		require.NoError(t, err)
		return [][]byte{data}
	}},
}

// readBatchViews reads every pinFrames frame with one batch call, polling
// until the first arrives, and returns each frame's views joined only for
// checking: the views themselves are what is touched later.
func readBatchViews(t *testing.T, read func([]memifpcap.Message) (int, error)) [][]byte {
	ms := make([]memifpcap.Message, 2*len(pinFrames))
	var views [][]byte
	deadline := time.Now().Add(20 * time.Second)
	for len(views) == 0 {
		require.True(t, time.Now().Before(deadline), "no frame arrived")
		n, err := read(ms)
		require.NoError(t, err)
		if n == 0 {
			continue
		}
		// Everything the peer sent is published before the read starts
		// (WriteBatch publishes once), so one batch holds all of it.
		require.Equal(t, len(pinFrames), n, "one batch holds every frame")
		for _, m := range ms[:n] {
			views = append(views, m.Buffers...)
		}
	}
	return views
}

// wantViews is what readBatchViews returns for pinFrames: each frame cut
// into 2048-byte descriptors.
func wantViews(c pinCase) [][]byte {
	if c.name == "ZeroCopyReadPacketData" || c.name == "RxQueueZeroCopy" {
		last := len(pinFrames) - 1
		return [][]byte{frame(last, pinFrames[last])}
	}
	var out [][]byte
	for i, n := range pinFrames {
		f := frame(i, n)
		for len(f) > 2048 {
			out = append(out, f[:2048])
			f = f[2048:]
		}
		out = append(out, f)
	}
	return out
}

func sendPinFrames(t *testing.T, h *memifpcap.Handle, queue int) {
	ms := make([]memifpcap.Message, len(pinFrames))
	for i, n := range pinFrames {
		ms[i].Buffers = [][]byte{frame(i, n)}
	}
	n, err := h.TxQueue(queue).WriteBatch(ms)
	require.NoError(t, err)
	require.Equal(t, len(ms), n)
}

// eachPinCase runs end for every pinCase in both roles: a pair with two
// queues each way, the frames sent and read; end makes the memory go
// (the test is its name) and returns the error the queue's next read must
// wrap. Then every view is touched and that read checked.
func eachPinCase(t *testing.T, end func(t *testing.T, sock string, role memifpcap.Role, reader, peer *memifpcap.Handle) error) {
	for _, role := range []memifpcap.Role{memifpcap.RoleClient, memifpcap.RoleServer} {
		for _, c := range pinCases {
			t.Run(fmt.Sprintf("%v/%s", role, c.name), func(t *testing.T) {
				t.Parallel()
				sock := sockPath(t)
				srv, cli := pair(t, memifpcap.Config{Socket: sock, ReadTimeout: 20 * time.Second, RxQueues: 2, TxQueues: 2},
					memifpcap.Config{Socket: sock, ReadTimeout: 20 * time.Second, ReconnectInterval: 10 * time.Millisecond,
						RxQueues: 2, TxQueues: 2})
				reader, peer := cli, srv
				if role == memifpcap.RoleServer {
					reader, peer = srv, cli
				}
				sendPinFrames(t, peer, c.queue)
				views := c.read(t, reader)
				want := wantViews(c)
				require.Len(t, views, len(want))
				wantErr := end(t, sock, role, reader, peer)
				for i, v := range views {
					touch(t, fmt.Sprintf("view %d", i), v, want[i])
				}
				// The next read of the queue reports the end and lets
				// go of the old memory.
				_, _, err := reader.RxQueue(c.queue).ReadPacketData()
				require.ErrorIs(t, err, wantErr)
			})
		}
	}
}

// The same when the reader's own Handle is closed by another goroutine
// (memifdump's signal handler does that) between a read and the use of its
// result: the memory stays mapped until the reader's next read, io.EOF.
func TestSlicesOutliveClose(t *testing.T) {
	eachPinCase(t, func(t *testing.T, _ string, _ memifpcap.Role, reader, _ *memifpcap.Handle) error {
		closed := make(chan error, 1)
		go func() { closed <- reader.Close() }()
		require.NoError(t, result(t, closed, 20*time.Second, "Close"))
		return io.EOF
	})
}

func TestSlicesOutliveThePeer(t *testing.T) {
	eachPinCase(t, func(t *testing.T, sock string, role memifpcap.Role, reader, peer *memifpcap.Handle) error {
		// The peer vanishes; teardown runs.
		require.NoError(t, peer.Close())
		waitDisconnects(t, reader, 1)
		if role == memifpcap.RoleClient {
			// A new server on the same socket: the client reconnects
			// with new memory while the old views are still held.
			srv2, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RxQueues: 2, TxQueues: 2})
			require.NoError(t, err)
			t.Cleanup(func() { srv2.Close() })
			require.NoError(t, reader.WaitLinkUp(waitCtx(t, 20*time.Second)))
		}
		return memifpcap.ErrLinkDown
	})
}

// A FrameWriter building a frame when the peer vanishes keeps writing into
// its slot without a fault; the frame is then refused with ErrLinkDown.
func TestFrameWriterSlotOutlivesThePeer(t *testing.T) {
	for _, role := range []memifpcap.Role{memifpcap.RoleClient, memifpcap.RoleServer} {
		t.Run(role.String(), func(t *testing.T) {
			t.Parallel()
			sock := sockPath(t)
			srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock, ReconnectInterval: -1})
			writer, peer := cli, srv
			if role == memifpcap.RoleServer {
				writer, peer = srv, cli
			}
			w := writer.NewFrameWriter()
			b, err := w.AppendBytes(100)
			require.NoError(t, err)
			require.NoError(t, peer.Close())
			waitDisconnects(t, writer, 1)
			want := frame(7, 100)
			copy(b, want)
			touch(t, "slot", b, want)
			require.ErrorIs(t, w.Send(), memifpcap.ErrLinkDown)
		})
		t.Run(role.String()+"/Close", func(t *testing.T) {
			t.Parallel()
			sock := sockPath(t)
			srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
			writer := cli
			if role == memifpcap.RoleServer {
				writer = srv
			}
			w := writer.NewFrameWriter()
			b, err := w.AppendBytes(100)
			require.NoError(t, err)
			require.NoError(t, writer.Close())
			want := frame(8, 100)
			copy(b, want)
			touch(t, "slot", b, want)
			require.ErrorIs(t, w.Send(), memifpcap.ErrClosed)
		})
	}
}

// result waits for the value a goroutine sends, failing after d instead of
// hanging.
func result[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing after %v", what, d)
	}
	var zero T
	return zero
}
