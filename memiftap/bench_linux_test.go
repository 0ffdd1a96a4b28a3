package memiftap

import (
	"context"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// BenchmarkTap64 forwards 64-byte frames from a Go client through the tap
// to a Go server, in batches, recording pcapng to nowhere (b.N frames), all
// in one process: for profiles (-cpuprofile). bench/run measures the tap
// between processes, against the direct link.
func BenchmarkTap64(b *testing.B) {
	up, down := b.TempDir()+"/s.sock", b.TempDir()+"/t.sock"
	server, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, RxMode: memifpcap.RxModePoll})
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: 10 * time.Second},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
		Capture:    &Capture{W: discard{}},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tap.Run(ctx) }()
	defer func() { cancel(); <-done }()
	client, err := memifpcap.Open(&memifpcap.Config{Socket: down, ConnectWait: 10 * time.Second, WriteTimeout: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	frame := make([]byte, 64)
	ms := make([]memifpcap.Message, 32)
	for i := range ms {
		ms[i].Buffers = [][]byte{frame}
	}
	rs := make([]memifpcap.Message, 64)
	for i := range rs {
		rs[i].Buffers = make([][]byte, 0, 4)
	}
	got := make(chan int)
	go func() {
		n := 0
		for n < b.N {
			k, err := server.ReadBatch(rs)
			if err != nil {
				continue
			}
			n += k
		}
		got <- n
	}()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		k, err := client.WriteBatch(ms[:min(32, b.N-sent)])
		if err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	<-got
}
