package memifpcap_test

import (
	"testing"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// The per-packet paths must not allocate: a write, a zero-copy read (also
// of a chained frame, gathered into the Handle's buffer) and a read into
// the caller's buffer.
func TestHotPathsDoNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	small, jumbo := frame(1, 64), frame(2, 9000)
	buf := make([]byte, 9000)
	// Warm up: the first chained read sizes the gather buffer.
	for _, f := range [][]byte{small, jumbo} {
		if err := cli.WritePacketData(f); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.ZeroCopyReadPacketData(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"write+zero-copy read 64", func() error {
			if err := cli.WritePacketData(small); err != nil {
				return err
			}
			_, _, err := srv.ZeroCopyReadPacketData()
			return err
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
