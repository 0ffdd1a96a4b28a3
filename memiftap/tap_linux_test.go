package memiftap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// sendFrames writes n frames of side from on q, waiting for the link.
func sendFrames(ctx context.Context, h *memifpcap.Handle, q int, from Side, n int) error {
	if err := h.WaitLinkUp(ctx); err != nil {
		return err
	}
	tx := h.TxQueue(q)
	for seq := range n {
		if err := tx.WritePacketDataContext(ctx, frameFor(from, q, seq)); err != nil {
			return fmt.Errorf("%v queue %d frame %d: %w", from, q, seq, err)
		}
	}
	return nil
}

// recvFrames reads n frames of side from on q and checks each.
func recvFrames(h *memifpcap.Handle, q int, from Side, n int) error {
	rx := h.RxQueue(q)
	for seq := 0; seq < n; {
		data, _, err := rx.ReadPacketData()
		if errors.Is(err, memifpcap.ErrLinkDown) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receiving %v queue %d frame %d: %w", from, q, seq, err)
		}
		if msg := checkFrame(data, from, q, seq); msg != "" {
			return fmt.Errorf("queue %d: %s", q, msg)
		}
		seq++
	}
	return nil
}

// TestTapExactBothWays: a Go client, the tap, a Go server; 4 queues,
// 60..9000-byte frames both ways at once, 9216-byte buffers on the
// server's link and 2048 on the client's, so that frames are re-cut
// both ways. Every byte and the order of each queue arrive; the pcapng
// holds every frame with its link, direction and queue, as read back and
// as tshark reads it.
func TestTapExactBothWays(t *testing.T) {
	t.Parallel()
	const queues, perQueue = 4, 300
	up, down := sockPath(t, "server.sock"), sockPath(t, "tap.sock")
	server := openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, RxQueues: queues, TxQueues: queues, ReadTimeout: 30 * time.Second})
	capPath := filepath.Join(t.TempDir(), "tap.pcapng")
	f, err := os.Create(capPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, RxQueues: queues, TxQueues: queues, BufferSize: 9216, ConnectWait: 10 * time.Second},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down, ID: 3},
		Capture:    &Capture{W: f},
		OnEvent:    ev.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runTap(t, tap)
	client := openPeer(t, memifpcap.Config{Role: memifpcap.RoleClient, Socket: down, ID: 3, RxQueues: queues, TxQueues: queues, BufferSize: 2048, ReadTimeout: 30 * time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	errs := make(chan error, 4*queues)
	var wg sync.WaitGroup
	for q := range queues {
		wg.Go(func() { errs <- sendFrames(ctx, client, q, Downstream, perQueue) })
		wg.Go(func() { errs <- sendFrames(ctx, server, q, Upstream, perQueue) })
		wg.Go(func() { errs <- recvFrames(server, q, Downstream, perQueue) })
		wg.Go(func() { errs <- recvFrames(client, q, Upstream, perQueue) })
	}
	for range 4 * queues {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatalf("traffic did not complete: %v (tap stats %+v)", ctx.Err(), tap.Stats())
		}
	}
	wg.Wait()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := tap.Stats()
	want := DirStats{Frames: queues * perQueue, Recorded: queues * perQueue}
	for _, d := range []DirStats{st.FromUpstream, st.FromDownstream} {
		d.Bytes = 0
		if d != want {
			t.Errorf("direction stats %+v, want %+v", d, want)
		}
	}
	checkCapture(t, capPath, queues, perQueue)
}

// checkCapture reads the tap's pcapng back: two interfaces, and every
// frame once, on the interface of the link it came from, inbound, with its
// queue, in order per queue; then asks tshark the same.
func checkCapture(t *testing.T, path string, queues, perQueue int) {
	t.Helper()
	ng := readNG(t, path)
	if len(ng.ifaces) != 2 || !strings.Contains(ng.ifaces[0].name, "server.sock") || !strings.Contains(ng.ifaces[1].name, "tap.sock id 3") {
		t.Fatalf("interfaces %q, want the upstream link (server.sock), then the downstream link (tap.sock id 3)", ng.ifaces)
	}
	next := map[[2]int]int{}
	for i, r := range ng.recs {
		from, q, seq, ok := frameID(r.data)
		switch {
		case !ok || !r.hasFlags || !r.hasQueue:
			t.Fatalf("record %d: not a test frame or no epb_flags/epb_queue: %+v", i, r)
		case uint32(from) != r.iface || r.flags != flagInbound || int(r.queue) != q:
			t.Fatalf("record %d: frame from %v queue %d recorded on interface %d, flags %#x, queue %d", i, from, q, r.iface, r.flags, r.queue)
		case next[[2]int{int(from), q}] != seq:
			t.Fatalf("record %d: %v queue %d frame %d, want frame %d", i, from, q, seq, next[[2]int{int(from), q}])
		}
		if msg := checkFrame(r.data, from, q, seq); msg != "" || r.length != len(r.data) {
			t.Fatalf("record %d: %s (length %d)", i, msg, r.length)
		}
		next[[2]int{int(from), q}]++
	}
	if len(ng.recs) != 2*queues*perQueue {
		t.Fatalf("%d records, want %d", len(ng.recs), 2*queues*perQueue)
	}
	for i := range uint32(2) {
		if s := ng.stats[i]; s[isbIfRecv] != uint64(queues*perQueue) || s[isbUsrDeliv] != uint64(queues*perQueue) || s[isbOSDrop] != 0 {
			t.Errorf("interface %d statistics %v, want %d received and recorded, 0 dropped", i, s, queues*perQueue)
		}
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark is not installed (apt-get install tshark): the capture was checked by reading it back only")
		return
	}
	cmd := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.interface_id",
		"-e", "frame.packet_flags_direction", "-e", "frame.interface_queue")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	count := map[[3]uint64]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var k [3]uint64
		for i, f := range strings.Split(l, "\t") {
			if i < 3 {
				k[i], _ = strconv.ParseUint(f, 0, 32) // the direction is printed 0x00000001
			}
		}
		count[k]++
	}
	for iface := range uint64(2) {
		for q := range uint64(queues) {
			if n := count[[3]uint64{iface, flagInbound, q}]; n != perQueue {
				t.Errorf("tshark: %d frames of interface %d, inbound, queue %d; want %d (%v)", n, iface, q, perQueue, count)
			}
		}
	}
}
