package memifpcap_test

import (
	"fmt"
	"testing"

	"github.com/google/gopacket"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// The per-packet paths must not allocate: a write, a zero-copy read (also
// of a chained frame, gathered into the Handle's buffer) and a read into
// the caller's buffer, with their ancillary data; and a frame built by a
// FrameWriter, alone or in a batch, small or chained, in both directions.
func TestHotPathsDoNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	small, jumbo := frame(1, 64), frame(2, 9000)
	buf := make([]byte, 9000)
	smallLayers, jumboLayers := udpFrame(1, 18, false), udpFrame(2, 8958, false)
	cw, sw := cli.NewFrameWriter(), srv.NewFrameWriter()
	// send serializes ls with w and sends it; rx reads it.
	send := func(w *memifpcap.FrameWriter, rx *memifpcap.Handle, ls []gopacket.SerializableLayer, size int) error {
		if err := gopacket.SerializeLayers(w, serializeOpts, ls...); err != nil {
			return err
		}
		if err := w.Send(); err != nil {
			return err
		}
		data, _, err := rx.ZeroCopyReadPacketData()
		if err == nil && len(data) != size {
			err = fmt.Errorf("read %d bytes, want %d", len(data), size)
		}
		return err
	}
	// Warm up: the first chained read sizes the gather buffer, the first
	// jumbo frame a FrameWriter builds its staging buffer.
	for _, f := range [][]byte{small, jumbo} {
		if err := cli.WritePacketData(f); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.ZeroCopyReadPacketData(); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []*memifpcap.FrameWriter{cw, sw} {
		rx := srv
		if w == sw {
			rx = cli
		}
		if err := send(w, rx, jumboLayers, 9000); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"write+zero-copy read 64 with ancillary data", func() error {
			if err := cli.WritePacketData(small); err != nil {
				return err
			}
			_, ci, err := srv.ZeroCopyReadPacketData()
			if err == nil && len(ci.AncillaryData) != 2 {
				err = fmt.Errorf("AncillaryData = %v, want queue and metadata", ci.AncillaryData)
			}
			return err
		}},
		{"frame writer 60 client to server", func() error { return send(cw, srv, smallLayers, 60) }},
		{"frame writer 60 server to client", func() error { return send(sw, cli, smallLayers, 60) }},
		{"frame writer 9000 (chain) client to server", func() error { return send(cw, srv, jumboLayers, 9000) }},
		{"frame writer 9000 (chain) server to client", func() error { return send(sw, cli, jumboLayers, 9000) }},
		{"frame writer batch of 8", func() error {
			for i := 0; i < 8; i++ {
				if err := gopacket.SerializeLayers(cw, serializeOpts, smallLayers...); err != nil {
					return err
				}
				if err := cw.Queue(); err != nil {
					return err
				}
			}
			if err := cw.Flush(); err != nil {
				return err
			}
			for i := 0; i < 8; i++ {
				if _, _, err := srv.ZeroCopyReadPacketData(); err != nil {
					return err
				}
			}
			return nil
		}},
		{"write+zero-copy read 9000 (chain)", func() error {
			if err := cli.WritePacketData(jumbo); err != nil {
				return err
			}
			_, _, err := srv.ZeroCopyReadPacketData()
			return err
		}},
		{"write+read-to 9000 server to client", func() error {
			if err := srv.WritePacketData(jumbo); err != nil {
				return err
			}
			_, err := cli.ReadPacketDataTo(buf)
			return err
		}},
	} {
		var err error
		allocs := testing.AllocsPerRun(1000, func() {
			if e := tc.f(); e != nil {
				err = e
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per packet, want 0", tc.name, allocs)
		}
	}
}

// BenchmarkWriteZeroCopyRead64 measures one 64-byte frame from client to
// server and out again through ZeroCopyReadPacketData, in one goroutine.
func BenchmarkWriteZeroCopyRead64(b *testing.B) {
	benchmarkRoundTrip(b, 64, true)
}

func BenchmarkWriteReadPacketData64(b *testing.B) {
	benchmarkRoundTrip(b, 64, false)
}

func BenchmarkWriteZeroCopyRead9000(b *testing.B) {
	benchmarkRoundTrip(b, 9000, true)
}

// The zero-copy writer against gopacket's usual way of injecting: the same
// Ethernet/IPv4/UDP frame (payload 18: 60 bytes; 1458: 1500; 8958: 9000,
// a chain) serialized with checksums and lengths fixed and sent client to
// server. Only the writer is timed: frames go out in bursts of 256, and the
// server drains each burst with the timer stopped. FrameWriterBatch32
// publishes every 32 frames (Queue, Flush) instead of every frame.
func BenchmarkWriter(b *testing.B) {
	for _, payload := range []int{18, 1458, 8958} {
		for _, way := range []string{"SerializeLayers+WritePacketData", "FrameWriter", "FrameWriterBatch32"} {
			b.Run(fmt.Sprintf("%d/%s", payload+42, way), func(b *testing.B) {
				benchmarkWriter(b, payload, way)
			})
		}
	}
}

func benchmarkWriter(b *testing.B, payload int, way string) {
	sock := b.TempDir() + "/memif.sock"
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	// 256 frames of 9000 bytes need 5*256 slots.
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, RingSize: 2048})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ls := udpFrame(0, payload, false)
	buf := gopacket.NewSerializeBuffer()
	w := cli.NewFrameWriter()
	const burst, batch = 256, 32
	drain := func(n int) {
		b.StopTimer()
		for ; n > 0; n-- {
			if _, _, err := srv.ZeroCopyReadPacketData(); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.SetBytes(int64(payload + 42))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		switch way {
		case "FrameWriter":
			if err := gopacket.SerializeLayers(w, serializeOpts, ls...); err != nil {
				b.Fatal(err)
			}
			if err := w.Send(); err != nil {
				b.Fatal(err)
			}
		case "FrameWriterBatch32":
			if err := gopacket.SerializeLayers(w, serializeOpts, ls...); err != nil {
				b.Fatal(err)
			}
			if err := w.Queue(); err != nil {
				b.Fatal(err)
			}
			if i%batch == batch-1 || i == b.N-1 {
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		default:
			if err := gopacket.SerializeLayers(buf, serializeOpts, ls...); err != nil {
				b.Fatal(err)
			}
			if err := cli.WritePacketData(buf.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
		if i%burst == burst-1 || i == b.N-1 {
			drain(i%burst + 1)
		}
	}
}

func benchmarkRoundTrip(b *testing.B, size int, zeroCopy bool) {
	sock := b.TempDir() + "/memif.sock"
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	f := frame(0, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := cli.WritePacketData(f); err != nil {
			b.Fatal(err)
		}
		if zeroCopy {
			_, _, err = srv.ZeroCopyReadPacketData()
		} else {
			_, _, err = srv.ReadPacketData()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// The copying read allocates nothing of its own per 64-byte packet: the
// frames and the AncillaryData slices come from shared chunks, yet each
// frame's are its own (changing or appending to one leaves the others
// alone, and later reads do not overwrite it).
func TestReadPacketDataAllocatesOnlyChunks(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	f := frame(1, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := cli.WritePacketData(f); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.ReadPacketData(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0.05 {
		t.Errorf("%.3f allocations per copying read, want only a share of a chunk", allocs)
	}

	var datas [][]byte
	for i := 0; i < 3; i++ {
		require.NoError(t, cli.WritePacketData(frame(i, 64)))
		data, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, 64, cap(data), "frame %d: capacity capped at its length", i)
		datas = append(datas, data)
	}
	_ = append(datas[0], 0xEE)
	datas[2][0] ^= 0xFF
	for i, d := range datas[:2] {
		require.Equal(t, frame(i, 64), d, "frame %d", i)
	}

	var cis []gopacket.CaptureInfo
	for i := 0; i < 3; i++ {
		require.NoError(t, cli.WritePacketData(frame(i, 64)))
		_, ci, err := srv.ReadPacketData()
		require.NoError(t, err)
		cis = append(cis, ci)
	}
	cis[0].AncillaryData[0] = "changed"
	_ = append(cis[1].AncillaryData, "appended")
	for i, ci := range cis[1:] {
		require.Len(t, ci.AncillaryData, 2, "frame %d", i+1)
		require.Equal(t, memifpcap.AncillaryQueue{Queue: 0}, ci.AncillaryData[0], "frame %d", i+1)
		require.IsType(t, memifpcap.AncillaryMetadata{}, ci.AncillaryData[1], "frame %d", i+1)
	}
}
