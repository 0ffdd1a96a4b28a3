//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// referBatch is a batch that takes every path of record: frames below and
// at referMin (copied), above it in one piece and as chains of uneven
// pieces (written from where they are), one cut by the snapshot length,
// and enough of them that the writev pieces outnumber one call's
// maxIovecs. It returns the messages and, per frame, the captured bytes
// and the original length.
func referBatch() ([]memifpcap.Message, [][]byte, []int) {
	var ms []memifpcap.Message
	var want [][]byte
	var lengths []int
	add := func(length int, pieces ...int) {
		f := make([]byte, length)
		for i := range f {
			f[i] = byte(len(ms)*7 + i)
		}
		capLen := 0
		var segs [][]byte
		for _, p := range pieces {
			segs = append(segs, f[capLen:capLen+p])
			capLen += p
		}
		var m memifpcap.Message
		m.Buffers = segs
		m.CaptureInfo.CaptureLength, m.CaptureInfo.Length = capLen, length
		m.CaptureInfo.Timestamp = time.Unix(1000, int64(len(ms)))
		ms = append(ms, m)
		want = append(want, bytes.Clone(f[:capLen]))
		lengths = append(lengths, length)
	}
	for i := range 700 {
		switch i % 7 {
		case 0:
			add(60, 60)
		case 1:
			add(referMin-1, referMin-1)
		case 2:
			add(referMin, referMin)
		case 3:
			add(1501, 1501) // pcapng pads it
		case 4:
			add(9000, 2048, 2048, 2048, 2048, 808) // a jumbo chain
		case 5:
			add(3000, 1000, 13) // cut by the snapshot length
		case 6:
			add(referMin+3, 1, referMin+2)
		}
	}
	return ms, want, lengths
}

// requireCaptured checks that c holds exactly want, with lengths.
func requireCaptured(t *testing.T, want [][]byte, lengths []int, c capture) {
	t.Helper()
	require.Len(t, c.records, len(want))
	for i, r := range c.records {
		require.Equal(t, want[i], r.data, "frame %d", i)
		require.Equal(t, len(want[i]), r.ci.CaptureLength, "frame %d", i)
		require.Equal(t, lengths[i], r.ci.Length, "frame %d", i)
		require.Equal(t, time.Unix(1000, int64(i)).UnixNano(), r.ci.Timestamp.UnixNano(), "frame %d", i)
	}
}

// spoil overwrites every byte the messages point at, as the peer does with
// a slot once it is handed back.
func spoil(ms []memifpcap.Message) {
	for i := range ms {
		for _, seg := range ms[i].Buffers {
			for j := range seg {
				seg[j] = 0xee
			}
		}
	}
}

// Frames of referMin bytes and more reach a capture file without being
// copied (writev from where the ring put them), and the file is byte for
// byte what copying wrote: pcap and pcapng, chains, frames cut by the
// snapshot length, more pieces than one writev takes. writeBatch has
// written them all when it returns: the frames spoiled afterwards (their
// slots handed back, as the next read does) leave the file as it was.
func TestWriteBatchRefersToLargeFrames(t *testing.T) {
	for _, format := range []string{"pcap", "pcapng"} {
		t.Run(format, func(t *testing.T) {
			ms, want, lengths := referBatch()
			out := filepath.Join(t.TempDir(), "out."+format)
			s := &fileSink{pattern: out, linkType: layers.LinkTypeEthernet, snapLen: 262144, ng: format == "pcapng",
				nano: true, stats: func() memifpcap.Stats { return memifpcap.Stats{} }}
			require.NoError(t, s.open(time.Now()))
			require.NotNil(t, s.out.raw, "a file's output can refer to frames")
			n, err := s.writeBatch(ms, 0)
			require.NoError(t, err)
			require.Equal(t, len(ms), n)
			require.False(t, s.out.referring(), "nothing refers to the batch after writeBatch")
			spoil(ms)
			require.NoError(t, s.close())
			requireCaptured(t, want, lengths, readCaptureFile(t, out))
		})
	}
	// An output that is no file (a library user's writer) copies.
	var buf bytes.Buffer
	ms, want, lengths := referBatch()
	s := &fileSink{pattern: "-", stdout: &buf, linkType: layers.LinkTypeEthernet, snapLen: 262144, nano: true,
		stats: func() memifpcap.Stats { return memifpcap.Stats{} }}
	require.NoError(t, s.open(time.Now()))
	require.Nil(t, s.out.raw)
	n, err := s.writeBatch(ms, 0)
	require.NoError(t, err)
	require.Equal(t, len(ms), n)
	spoil(ms)
	require.NoError(t, s.close())
	requireCaptured(t, want, lengths, readCapture(t, buf.Bytes()))
}

// A pipe takes at most 64 KiB at a time and Go makes its end non-blocking:
// writev returns short and then EAGAIN, and the rest is written when the
// reader makes room, in order, nothing lost or repeated.
func TestWriteBatchRefersThroughAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	got := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 1000) // a slow reader: many short writes
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				got <- b.Bytes()
				return
			}
		}
	}()
	ms, want, lengths := referBatch()
	s := &fileSink{pattern: "-", stdout: w, linkType: layers.LinkTypeEthernet, snapLen: 262144, nano: true,
		stats: func() memifpcap.Stats { return memifpcap.Stats{} }}
	require.NoError(t, s.open(time.Now()))
	n, err := s.writeBatch(ms, 0)
	require.NoError(t, err)
	require.Equal(t, len(ms), n)
	spoil(ms)
	require.NoError(t, s.close())
	require.NoError(t, w.Close())
	select {
	case b := <-got:
		requireCaptured(t, want, lengths, readCapture(t, b))
	case <-time.After(procDeadline):
		t.Fatal("the pipe's reader never saw its end")
	}
}

// Errors are those of the copying path: a pipe nobody reads ends the
// capture with EPIPE, naming the output; a write deadline (abandon) ends
// it with os.ErrDeadlineExceeded.
func TestWriteBatchReferErrors(t *testing.T) {
	ms, _, _ := referBatch()
	newSink := func(t *testing.T) (*fileSink, *os.File) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		t.Cleanup(func() { r.Close(); w.Close() })
		s := &fileSink{pattern: "-", stdout: w, linkType: layers.LinkTypeEthernet, snapLen: 262144, nano: true,
			stats: func() memifpcap.Stats { return memifpcap.Stats{} }}
		require.NoError(t, s.open(time.Now()))
		return s, r
	}

	t.Run("broken pipe", func(t *testing.T) {
		s, r := newSink(t)
		require.NoError(t, r.Close())
		_, err := s.writeBatch(ms, 0)
		require.ErrorIs(t, err, syscall.EPIPE)
		var pe *os.PathError
		require.True(t, errors.As(err, &pe), "%v names the output", err)
		require.False(t, s.out.referring())
	})
	t.Run("deadline", func(t *testing.T) {
		s, _ := newSink(t) // the read end stays open, unread, until Cleanup
		done := make(chan error, 1)
		go func() {
			_, err := s.writeBatch(ms, 0)
			done <- err
		}()
		// Nobody reads: the writer blocks once the pipe is full (2.6 MB
		// do not fit), and the deadline (abandon's) ends the wait; set
		// before the writer blocks, it fails the next write all the same.
		time.Sleep(10 * time.Millisecond)
		s.abandon()
		select {
		case err := <-done:
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		case <-time.After(procDeadline):
			t.Fatal("the write deadline did not end writeBatch")
		}
		require.False(t, s.out.referring())
	})
}

// BenchmarkWriteBatch is record's cost per frame for a batch of 256 frames
// in cache: copied into the block (io.Discard: no file to refer with) and,
// from referMin bytes, written from where they are (/dev/null).
func BenchmarkWriteBatch(b *testing.B) {
	for _, size := range []int{64, 1500} {
		for _, out := range []string{"discard", "devnull"} {
			b.Run(fmt.Sprintf("%d/%s", size, out), func(b *testing.B) {
				frames := make([]byte, 256*size)
				ms := make([]memifpcap.Message, 256)
				for i := range ms {
					ms[i].Buffers = [][]byte{frames[i*size : (i+1)*size]}
					ms[i].CaptureInfo.CaptureLength, ms[i].CaptureInfo.Length = size, size
					ms[i].CaptureInfo.Timestamp = time.Unix(1000, int64(i))
				}
				s := &fileSink{pattern: "-", stdout: io.Discard, linkType: layers.LinkTypeEthernet, snapLen: 262144,
					stats: func() memifpcap.Stats { return memifpcap.Stats{} }}
				if out == "devnull" {
					f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
					require.NoError(b, err)
					defer f.Close()
					s.stdout = f
				}
				require.NoError(b, s.open(time.Now()))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := s.writeBatch(ms, 0); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ms)), "ns/frame")
			})
		}
	}
}
