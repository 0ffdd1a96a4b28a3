package memiftap

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// collector reads frames of one queue from whatever Handle it is given,
// one Handle after another, and keeps their sequence numbers.
type collector struct {
	mu   sync.Mutex
	seqs []int
	bad  string
}

func (c *collector) read(h *memifpcap.Handle, from Side) {
	rx := h.RxQueue(0)
	for {
		data, _, err := rx.ReadPacketData()
		if err == io.EOF {
			return
		}
		if err != nil {
			continue // the link went down: the Handle's peer comes back
		}
		_, _, seq, _ := frameID(data)
		c.mu.Lock()
		if msg := checkFrame(data, from, 0, seq); msg != "" && c.bad == "" {
			c.bad = msg
		}
		c.seqs = append(c.seqs, seq)
		c.mu.Unlock()
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seqs)
}

// TestTapLinkFollows: when either peer leaves mid-stream, the other is
// disconnected with a reason naming the cause; both come back (the tap
// reconnects upstream, then admits downstream again), traffic resumes,
// nothing is duplicated or corrupted, every frame missing is counted, and
// the capture goes on across the sessions.
func TestTapLinkFollows(t *testing.T) {
	t.Parallel()
	for _, killed := range []Side{Upstream, Downstream} {
		t.Run(killed.String(), func(t *testing.T) {
			t.Parallel()
			testLinkFollows(t, killed)
		})
	}
}

func testLinkFollows(t *testing.T, killed Side) {
	up, down := sockPath(t, "server.sock"), sockPath(t, "tap.sock")
	cfgs := [2]memifpcap.Config{
		{Role: memifpcap.RoleServer, Socket: up},
		{Role: memifpcap.RoleClient, Socket: down, ReconnectInterval: 50 * time.Millisecond, RingSize: 256},
	}
	apps := [2]*memifpcap.Handle{openPeer(t, cfgs[Upstream]), nil}
	capPath := filepath.Join(t.TempDir(), "tap.pcapng")
	f, err := os.Create(capPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: 10 * time.Second, RingSize: 128},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
		Capture:    &Capture{W: f},
		OnEvent:    ev.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := runTap(t, tap)
	apps[Downstream] = openPeer(t, cfgs[Downstream])
	survivor := killed.other()

	// The survivor sends without pause; the killed side receives.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var sent atomic.Int64
	sendCtx, stopSending := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		h, tx := apps[survivor], apps[survivor].TxQueue(0)
		for seq := 0; sendCtx.Err() == nil; {
			err := tx.WritePacketDataContext(sendCtx, frameFor(survivor, 0, seq))
			if err == nil {
				seq++
				sent.Store(int64(seq))
				continue
			}
			// Not written: the same frame is tried again when the link is back.
			_ = h.WaitLinkUp(sendCtx)
		}
	})
	col := &collector{}
	var readers sync.WaitGroup
	readers.Go(func() { col.read(apps[killed], survivor) })
	waitFor(t, "frames through the tap", 30*time.Second, func() bool { return col.count() >= 200 })

	// Leave: the survivor's peer, the tap, must be disconnected saying why.
	d0 := apps[survivor].Stats().Disconnects
	apps[killed].Close()
	reason := linkEnded(t, apps[survivor], d0, time.Minute)
	if want := killed.String() + " link down"; !strings.Contains(reason, want) {
		t.Errorf("the survivor was told %q, want a reason with %q", reason, want)
	}
	readers.Wait()
	apps[killed] = openPeer(t, cfgs[killed])
	readers.Go(func() { col.read(apps[killed], survivor) })
	before := col.count()
	waitFor(t, "frames after both links came back", 30*time.Second, func() bool { return col.count() >= before+200 })
	stopSending()
	wg.Wait()
	if err := apps[survivor].Drain(ctx); err != nil {
		t.Fatalf("the survivor's drain: %v; survivor up %v, %+v; killed up %v, %+v; tap %+v; received %d of %d",
			err, apps[survivor].LinkUp(), apps[survivor].Stats(), apps[killed].LinkUp(), apps[killed].Stats(), tap.Stats(), col.count(), sent.Load())
	}
	waitFor(t, "the tap to hand on the last frames", 10*time.Second, func() bool {
		st := tap.Stats()
		d := st.FromUpstream
		if survivor == Downstream {
			d = st.FromDownstream
		}
		return int64(col.count())+int64(d.Lost+d.Untaken)+int64(apps[survivor].Stats().TxLost) >= sent.Load()
	})
	apps[killed].Close()
	readers.Wait()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkNoDuplicates(t, col, sent.Load(), tap.Stats(), survivor, apps[survivor].Stats())
	ng := readNG(t, capPath)
	if st := tap.Stats(); len(ng.recs) != int(st.FromUpstream.Frames+st.FromDownstream.Frames) || st.Sessions != 2 {
		t.Errorf("%d frames recorded over %d sessions; the tap handed on %+v", len(ng.recs), st.Sessions, st)
	}
}

// checkNoDuplicates: the frames received are in order, none twice, none
// corrupt; the ones missing are no more than the tap and the sender
// counted as lost.
func checkNoDuplicates(t *testing.T, col *collector, sent int64, st Stats, survivor Side, sst memifpcap.Stats) {
	t.Helper()
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.bad != "" {
		t.Fatal(col.bad)
	}
	for i := 1; i < len(col.seqs); i++ {
		if col.seqs[i] <= col.seqs[i-1] {
			t.Fatalf("frame %d received after frame %d: duplicated or reordered", col.seqs[i], col.seqs[i-1])
		}
	}
	d := st.FromUpstream
	if survivor == Downstream {
		d = st.FromDownstream
	}
	missing := sent - int64(len(col.seqs))
	counted := int64(d.Lost + d.Untaken + sst.TxLost)
	t.Logf("sent %d, received %d; counted lost: %d in the tap, %d untaken from the tap, %d in the sender's ring", sent, len(col.seqs), d.Lost, d.Untaken, sst.TxLost)
	if missing < 0 || missing > counted {
		t.Errorf("%d frames missing, %d counted lost", missing, counted)
	}
}
