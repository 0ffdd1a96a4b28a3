package main

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// With frames waiting in the ring, the loop reads them in batches (chains
// gathered), and -c takes no frame beyond the count off the ring: the rest
// are there for the next reader, and "received" is exactly the count.
func TestLoopBatchesStopAtCount(t *testing.T) {
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv.Close()
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.NoError(t, err)
	defer cli.Close()
	// 150 frames, every 7th a 5-descriptor chain: all in the ring before
	// the loop reads, so that batches are full (64, 64, then 2 of 22).
	frames := udpFrames(t, 150)
	inject(t, cli, frames)

	out := filepath.Join(t.TempDir(), "out.pcap")
	s := &fileSink{pattern: out, linkType: layers.LinkTypeEthernet, snapLen: 262144, stats: srv.Stats}
	require.NoError(t, s.open(time.Now()))
	d := &dump{o: &options{count: 130}, stderr: io.Discard, h: srv}
	require.NoError(t, d.loop(s, make(chan struct{}, 1)))
	require.NoError(t, s.close())
	require.Equal(t, uint64(130), d.captured.Load())
	require.Equal(t, uint64(130), srv.Stats().Packets)
	requireFrames(t, frames[:130], readCaptureFile(t, out))

	// The 20 left are read by the next loop, in order.
	out2 := filepath.Join(t.TempDir(), "rest.pcap")
	s2 := &fileSink{pattern: out2, linkType: layers.LinkTypeEthernet, snapLen: 262144, stats: srv.Stats}
	require.NoError(t, s2.open(time.Now()))
	d2 := &dump{o: &options{count: 20}, stderr: io.Discard, h: srv}
	require.NoError(t, d2.loop(s2, make(chan struct{}, 1)))
	require.NoError(t, s2.close())
	require.Equal(t, uint64(150), srv.Stats().Packets)
	requireFrames(t, frames[130:], readCaptureFile(t, out2))
}

// Records of every small length, around the inlined copy's 16-64-byte
// range, come out whole, in pcap and pcapng: the copy is chosen by length,
// and a frame shorter than 16 bytes takes the plain copy.
func TestWriteBatchSmallFrames(t *testing.T) {
	var frames [][]byte
	for n := 1; n <= 70; n++ {
		f := make([]byte, n)
		for i := range f {
			f[i] = byte(n*31 + i)
		}
		frames = append(frames, f)
	}
	for _, format := range []string{"pcap", "pcapng"} {
		out := filepath.Join(t.TempDir(), "out."+format)
		s := &fileSink{pattern: out, linkType: layers.LinkTypeEthernet, snapLen: 262144, ng: format == "pcapng",
			stats: func() memifpcap.Stats { return memifpcap.Stats{} }}
		require.NoError(t, s.open(time.Now()))
		ms := make([]memifpcap.Message, len(frames))
		for i, f := range frames {
			ms[i].Buffers = [][]byte{f}
			ms[i].CaptureInfo.CaptureLength, ms[i].CaptureInfo.Length = len(f), len(f)
			ms[i].CaptureInfo.Timestamp = time.Unix(1000, int64(i))
		}
		n, err := s.writeBatch(ms, 0)
		require.NoError(t, err)
		require.Equal(t, len(frames), n)
		require.NoError(t, s.close())
		requireFrames(t, frames, readCaptureFile(t, out))
	}
}
