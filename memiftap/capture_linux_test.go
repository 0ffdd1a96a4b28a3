package memiftap

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/pcapfilter"
)

// tapPair starts a Go server app, a tap in front of it and a Go client app
// of the tap, one queue each, and returns the apps.
func tapPair(t *testing.T, c *Config) (server, client *memifpcap.Handle, tap *Tap, stop func() error) {
	t.Helper()
	up, down := sockPath(t, "server.sock"), sockPath(t, "tap.sock")
	server = openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, ReadTimeout: 30 * time.Second})
	ev := &events{t: t}
	c.Upstream = memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: 10 * time.Second}
	c.Downstream = memifpcap.Config{Role: memifpcap.RoleServer, Socket: down}
	c.OnEvent = ev.add
	tap, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	stop = runTap(t, tap)
	client = openPeer(t, memifpcap.Config{Role: memifpcap.RoleClient, Socket: down, ReadTimeout: 30 * time.Second})
	return server, client, tap, stop
}

// pass sends n frames from the client app to the server app and checks
// each as it arrives.
func pass(t *testing.T, client, server *memifpcap.Handle, first, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		tx := client.TxQueue(0)
		for seq := first; seq < first+n; seq++ {
			if err := tx.WritePacketDataContext(ctx, frameFor(Downstream, 0, seq)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for seq := first; seq < first+n; seq++ {
		data, _, err := server.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: %v", seq, err)
		}
		if msg := checkFrame(data, Downstream, 0, seq); msg != "" {
			t.Fatal(msg)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// gate is a writer that blocks every write after the first (the file
// header) until opened: a disk that cannot keep up.
type gate struct {
	mu     sync.Mutex
	open   chan struct{}
	writes int
	buf    bytes.Buffer
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	first := g.writes == 0
	g.writes++
	g.mu.Unlock()
	if !first {
		<-g.open
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

// TestTapSlowDisk: a capture whose writer blocks does not hold forwarding
// back; the frames it could not record are counted, and those it did are
// in the file when it ends.
func TestTapSlowDisk(t *testing.T) {
	t.Parallel()
	g := &gate{open: make(chan struct{})}
	server, client, tap, stop := tapPair(t, &Config{Capture: &Capture{W: g, Spool: 64 << 10}})
	const n = 3000
	pass(t, client, server, 0, n) // every frame crosses while the disk is stuck
	close(g.open)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	d := tap.Stats().FromDownstream
	if d.Frames != n || d.NotRecorded == 0 || d.Recorded+d.NotRecorded != n {
		t.Fatalf("stats %+v: want %d frames forwarded, some not recorded, recorded + not recorded = %d", d, n, n)
	}
	path := filepath.Join(t.TempDir(), "slow.pcapng")
	if err := os.WriteFile(path, g.buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ng := readNG(t, path)
	if len(ng.recs) != int(d.Recorded) || ng.stats[1][isbOSDrop] != d.NotRecorded {
		t.Fatalf("%d records and %d counted not recorded in the file; stats %+v", len(ng.recs), ng.stats[1][isbOSDrop], d)
	}
	for i := 1; i < len(ng.recs); i++ {
		_, _, a, _ := frameID(ng.recs[i-1].data)
		_, _, b, _ := frameID(ng.recs[i].data)
		if b <= a {
			t.Fatalf("record %d is frame %d after frame %d", i, b, a)
		}
	}
}

// TestTapLosslessCapture: with Lossless, a stuck disk holds forwarding
// back through the rings; once it moves, every frame is forwarded and
// recorded.
func TestTapLosslessCapture(t *testing.T) {
	t.Parallel()
	g := &gate{open: make(chan struct{})}
	server, client, tap, stop := tapPair(t, &Config{Capture: &Capture{W: g, Spool: 64 << 10, Lossless: true}})
	const n = 3000
	done := make(chan struct{})
	go func() {
		defer close(done)
		pass(t, client, server, 0, n)
	}()
	// The spool (64 KiB) and the rings (1024 slots each way) hold far
	// fewer than n frames: forwarding stops until the disk moves.
	waitFor(t, "forwarding to stall on the stuck disk", 30*time.Second, func() bool {
		a := tap.Stats().FromDownstream.Frames
		time.Sleep(50 * time.Millisecond)
		return a > 0 && tap.Stats().FromDownstream.Frames == a
	})
	if f := tap.Stats().FromDownstream.Frames; f >= n {
		t.Fatalf("%d frames forwarded while the disk was stuck", f)
	}
	close(g.open)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the frames did not cross once the disk moved")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if d := tap.Stats().FromDownstream; d.Frames != n || d.Recorded != n || d.NotRecorded != 0 {
		t.Fatalf("stats %+v, want all %d forwarded and recorded", d, n)
	}
}

// TestTapFilterRecordsOnly: the filter chooses what is recorded, never
// what is forwarded.
func TestTapFilterRecordsOnly(t *testing.T) {
	t.Parallel()
	const expr = "ether[19] & 1 = 0" // even sequence numbers
	prog, err := pcapfilter.CompileRaw(expr, pcapfilter.LinkTypeEthernet, memifpcap.DefaultSnapLen)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "f.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	server, client, tap, stop := tapPair(t, &Config{Capture: &Capture{W: f, Filter: prog, FilterText: expr}})
	const n = 500
	pass(t, client, server, 0, n)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	d := tap.Stats().FromDownstream
	if d.Frames != n || d.Recorded != n/2 || d.Filtered != n/2 {
		t.Fatalf("stats %+v: want %d forwarded, %d recorded, %d filtered", d, n, n/2, n/2)
	}
	ng := readNG(t, path)
	for i, r := range ng.recs {
		if _, _, seq, _ := frameID(r.data); seq != 2*i {
			t.Fatalf("record %d is frame %d, want %d", i, seq, 2*i)
		}
	}
	if s := ng.stats[1]; s[isbIfRecv] != n || s[isbFilterAcc] != n/2 || s[isbUsrDeliv] != n/2 {
		t.Fatalf("downstream interface statistics %v", s)
	}
}

// TestTapBothLinks: BothLinks records each frame on both interfaces, in
// on the one it came from and out on the other.
func TestTapBothLinks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "b.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	server, client, _, stop := tapPair(t, &Config{Capture: &Capture{W: f, BothLinks: true}})
	pass(t, client, server, 0, 10)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ng := readNG(t, path)
	if len(ng.recs) != 20 {
		t.Fatalf("%d records, want 20", len(ng.recs))
	}
	for i := 0; i < 20; i += 2 {
		in, out := ng.recs[i], ng.recs[i+1]
		if in.iface != 1 || in.flags != flagInbound || out.iface != 0 || out.flags != flagOutbound || !bytes.Equal(in.data, out.data) {
			t.Fatalf("records %d and %d: interface %d flags %d, interface %d flags %d", i, i+1, in.iface, in.flags, out.iface, out.flags)
		}
	}
}

// TestTapAdmission: no downstream peer is admitted while upstream is
// down (the tap does not even listen), and one that connects other queue
// counts than upstream's is disconnected saying so.
func TestTapAdmission(t *testing.T) {
	t.Parallel()
	up, down := sockPath(t, "server.sock"), sockPath(t, "tap.sock")
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: -1, RxQueues: 2, TxQueues: 2},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
		OnEvent:    ev.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	runTap(t, tap)
	time.Sleep(100 * time.Millisecond)
	if _, err := memifpcap.Open(&memifpcap.Config{Socket: down}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("a client of the tap while upstream is down: %v, want no socket", err)
	}
	openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, RxQueues: 2, TxQueues: 2})
	// The tap disconnects it as soon as the link is up, which may be
	// before the client has read CONNECTED: then Open fails with the
	// reason, else the link goes down with it.
	var reason string
	one, err := memifpcap.Open(&memifpcap.Config{Socket: down, ReconnectInterval: -1, ConnectWait: 20 * time.Second})
	if err != nil {
		reason = err.Error()
	} else {
		defer one.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if reason, err = one.WaitLinkDown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(reason, "Queue count mismatch") {
		t.Fatalf("a client with 1 queue of a tap with 2: %q, want a queue count mismatch", reason)
	}
	two := openPeer(t, memifpcap.Config{Socket: down, RxQueues: 2, TxQueues: 2})
	if rx, tx := two.ConnectedQueues(); rx != 2 || tx != 2 {
		t.Fatalf("a client with 2 queues: connected %d and %d", rx, tx)
	}
}

func TestTapModesMustMatch(t *testing.T) {
	_, err := New(&Config{Upstream: memifpcap.Config{Mode: memifpcap.ModeIP}})
	if err == nil || !strings.Contains(err.Error(), "modes differ") {
		t.Fatalf("New with ip upstream and ethernet downstream: %v", err)
	}
}

// TestTapDoesNotAllocate: forwarding and recording a frame allocate
// nothing once running.
func TestTapDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	server, client, _, _ := tapPair(t, &Config{Capture: &Capture{W: discard{}}})
	frame := frameFor(Downstream, 0, 0)
	buf := make([]byte, 9216)
	run := func(n int) {
		for range n {
			if err := client.WritePacketData(frame); err != nil {
				t.Fatal(err)
			}
			if _, err := server.ReadPacketDataTo(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(2000) // warm up
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	const n = 20000
	run(n)
	runtime.ReadMemStats(&b)
	// Mallocs counts the whole process: on a loaded machine the readers
	// sleep and wake more, and the runtime's own timers show (0.056 seen
	// beside four CPU hogs). An allocation per frame would be 1 or more.
	if per := float64(b.Mallocs-a.Mallocs) / n; per > 0.2 {
		t.Fatalf("%.3f allocations per frame through the tap", per)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestTapPcapFormat: FormatPcap writes a pcap file that pcapgo reads back,
// every frame whole, nanosecond timestamps with Nano.
func TestTapPcapFormat(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.pcap")
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	server, client, _, stop := tapPair(t, &Config{Capture: &Capture{W: f, Format: FormatPcap, Nano: true}})
	const n = 100
	pass(t, client, server, 0, n)
	must(t, stop())
	must(t, f.Close())
	b, err := os.ReadFile(path)
	must(t, err)
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	must(t, err)
	// (pcapgo v1.1.19's Reader.Resolution has micro and nano swapped:
	// the magic number says.)
	if r.LinkType() != layers.LinkTypeEthernet || le.Uint32(b) != pcapMagicNano {
		t.Fatalf("link type %v, magic %#x", r.LinkType(), le.Uint32(b))
	}
	for seq := range n {
		data, ci, err := r.ReadPacketData()
		must(t, err)
		if msg := checkFrame(data, Downstream, 0, seq); msg != "" || ci.Length != len(data) {
			t.Fatalf("record %d: %s", seq, msg)
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after %d records: %v, want EOF", n, err)
	}
}
