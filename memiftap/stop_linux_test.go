package memiftap

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// TestTapEndWhileForwarding: a tap that ends a link while a forwarder
// holds a batch read from it (told to stop, or because the other link went
// down) does not close or disconnect that link under the batch. Either
// hands the batch's slots back to the peer, which may rewrite them at
// once, so a forwarder that went on would forward and record bytes that
// are no longer the frames read. The batch is held deterministically
// (testHoldBatch); the link its views belong to must stay up until it is
// let go, then the batch counts as lost (the other link is gone by then),
// and the capture holds exactly the frames forwarded before.
func TestTapEndWhileForwarding(t *testing.T) {
	for _, how := range []string{"stop", "upstream down"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			testEndWhileForwarding(t, how == "stop")
		})
	}
}

func testEndWhileForwarding(t *testing.T, stopTap bool) {
	var rec bytes.Buffer
	up, down := sockPath(t, "server.sock"), sockPath(t, "tap.sock")
	server := openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, ReadTimeout: 30 * time.Second})
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: 10 * time.Second},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
		OnEvent:    ev.add,
		Capture:    &Capture{W: &rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	var arm atomic.Bool
	held, release := make(chan int, 1), make(chan struct{})
	tap.testHoldBatch = func(from Side, ms []memifpcap.Message) {
		if from == Downstream && arm.CompareAndSwap(true, false) {
			held <- len(ms)
			<-release
		}
	}
	stop := runTap(t, tap)
	client := openPeer(t, memifpcap.Config{Role: memifpcap.RoleClient, Socket: down, ReadTimeout: 30 * time.Second})

	const before, heldN = 5, 7
	pass(t, client, server, 0, before)
	arm.Store(true)
	ms := make([]memifpcap.Message, heldN)
	for i := range ms {
		ms[i].Buffers = [][]byte{frameFor(Downstream, 0, before+i)}
	}
	if n, err := client.TxQueue(0).WriteBatch(ms); n != heldN || err != nil {
		t.Fatalf("WriteBatch: %d of %d, %v", n, heldN, err)
	}
	select {
	case n := <-held:
		if n != heldN {
			t.Fatalf("the forwarder read %d frames in its batch, want the %d written in one", n, heldN)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the forwarder did not read the batch in 20 s")
	}

	stopped := make(chan error, 1)
	if stopTap {
		go func() { stopped <- stop() }()
		// Upstream, whose forwarder holds nothing, closes at once;
		// downstream must not while its batch is held.
		waitFor(t, "the tap to close upstream", 10*time.Second, func() bool { return !server.LinkUp() })
	} else {
		server.Close()
		waitFor(t, "the tap to see upstream go", 10*time.Second, func() bool {
			for _, l := range ev.lines() {
				if strings.HasPrefix(l, "upstream down") {
					return true
				}
			}
			return false
		})
	}
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !client.LinkUp() {
			close(release)
			t.Fatal("the tap closed the link whose frames a forwarder was still using")
		}
	}
	close(release)
	if !stopTap {
		waitFor(t, "the tap to disconnect downstream", 10*time.Second, func() bool { return !client.LinkUp() })
		go func() { stopped <- stop() }()
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return 20 s after the batch was let go")
	}
	d := tap.Stats().FromDownstream
	if d.Frames != before || d.Lost != heldN || d.Recorded != before {
		t.Fatalf("stats %+v: want %d forwarded and recorded, %d lost (the held batch, read after upstream closed)", d, before, heldN)
	}
	path := filepath.Join(t.TempDir(), "stop.pcapng")
	if err := os.WriteFile(path, rec.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ng := readNG(t, path)
	if len(ng.recs) != before {
		t.Fatalf("%d records, want the %d frames forwarded", len(ng.recs), before)
	}
	for i, r := range ng.recs {
		if msg := checkFrame(r.data, Downstream, 0, i); msg != "" {
			t.Fatalf("record %d: %s", i, msg)
		}
	}
}
