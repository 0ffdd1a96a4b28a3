package main

import (
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// Writing a frame to a capture file does not allocate, in any format.
func TestSinkDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	frame := udpFrame(t, 1, 1000)
	ci := gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(frame), Length: len(frame)}
	for _, tc := range []struct {
		name string
		s    fileSink
	}{
		{"pcap", fileSink{}},
		{"pcap nano -U", fileSink{nano: true, flushEach: true}},
		{"pcapng", fileSink{ng: true}},
		{"pcapng -U", fileSink{ng: true, flushEach: true}},
		{"pcap -C -G", fileSink{sizeLimit: 1 << 40, rotate: time.Hour}},
		{"standard output", fileSink{pattern: "-", stdout: io.Discard}},
	} {
		s := tc.s
		if s.pattern == "" {
			s.pattern = filepath.Join(t.TempDir(), "out")
		}
		s.linkType, s.snapLen = layers.LinkTypeEthernet, 262144
		s.stats = func() memifpcap.Stats { return memifpcap.Stats{} }
		require.NoError(t, s.open(ci.Timestamp))
		var err error
		allocs := testing.AllocsPerRun(1000, func() {
			if e := s.writePacket(ci, frame); e != nil {
				err = e
			}
		})
		require.NoError(t, err)
		require.Zero(t, allocs, "%s: allocations per frame", tc.name)
		require.NoError(t, s.close())
	}
}

// The capture loop as a whole, zero-copy reads from the ring included,
// does not allocate per frame.
func TestLoopDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv.Close()
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.NoError(t, err)
	defer cli.Close()
	const n = 500 // fits the 1024-slot ring (jumbo chains take 5 slots): written before the loop runs
	frames := udpFrames(t, n)
	inject(t, cli, frames)

	s := &fileSink{pattern: "-", stdout: io.Discard, linkType: layers.LinkTypeEthernet, snapLen: 262144, stats: srv.Stats}
	require.NoError(t, s.open(time.Now()))
	d := &dump{o: &options{count: n}, stderr: io.Discard, h: srv}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = d.loop(s, make(chan struct{}, 1))
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Equal(t, uint64(n), d.captured.Load())
	// A handful of allocations by the runtime or the Handle's goroutines
	// may land in the window; one per frame would be 500.
	t.Logf("%d allocations for %d frames", after.Mallocs-before.Mallocs, n)
	require.Less(t, after.Mallocs-before.Mallocs, uint64(20), "allocations for %d frames", n)
}

// BenchmarkCapture64 is memifdump -w /dev/null fed 64-byte frames by a Go
// client as fast as it can write them: frames per second through the loop
// (b.N frames; see the pps metric).
func BenchmarkCapture64(b *testing.B) {
	sock := filepath.Join(b.TempDir(), "memif.sock")
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(b, err)
	defer srv.Close()
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, WriteTimeout: -1})
	require.NoError(b, err)
	defer cli.Close()
	frame := udpFrame(b, 0, 64-42)
	s := &fileSink{pattern: "-", stdout: io.Discard, linkType: layers.LinkTypeEthernet, snapLen: 262144, stats: srv.Stats}
	require.NoError(b, s.open(time.Now()))
	d := &dump{o: &options{count: uint64(b.N)}, stderr: io.Discard, h: srv}
	errc := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < b.N; i++ {
			if err := cli.WritePacketData(frame); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	require.NoError(b, d.loop(s, make(chan struct{}, 1)))
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pps")
	require.NoError(b, <-errc)
}
