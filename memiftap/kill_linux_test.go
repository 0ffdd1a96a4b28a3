package memiftap

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// TestHelperPeer is not a test: run by TestTapSIGKILL as a separate
// process (MEMIFTAP_HELPER=client|server), it opens a memif peer on
// MEMIFTAP_SOCKET and streams numbered frames of generation MEMIFTAP_GEN
// until it is killed.
func TestHelperPeer(t *testing.T) {
	role := os.Getenv("MEMIFTAP_HELPER")
	if role == "" {
		t.Skip("a helper process of TestTapSIGKILL")
	}
	gen, _ := strconv.Atoi(os.Getenv("MEMIFTAP_GEN"))
	c := memifpcap.Config{Socket: os.Getenv("MEMIFTAP_SOCKET"), ConnectWait: time.Minute, WriteTimeout: -1}
	from := Downstream
	if role == "server" {
		c.Role, from = memifpcap.RoleServer, Upstream
	}
	h, err := memifpcap.Open(&c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for seq := 0; ; {
		if err := h.WritePacketDataContext(ctx, fixedFrame(from, gen, seq)); err != nil {
			_ = h.WaitLinkUp(ctx)
			continue
		}
		seq++
		time.Sleep(100 * time.Microsecond)
	}
}

// startHelper runs TestHelperPeer in a process of its own.
func startHelper(t *testing.T, role, sock string, gen int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPeer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MEMIFTAP_HELPER="+role, "MEMIFTAP_SOCKET="+sock, "MEMIFTAP_GEN="+strconv.Itoa(gen))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// genCollector checks the frames of a peer that is restarted: each
// generation's sequence numbers increase, frames are intact.
type genCollector struct {
	mu   sync.Mutex
	last map[int]int
	n    map[int]int
	bad  string
}

func (c *genCollector) read(h *memifpcap.Handle, from Side) {
	rx := h.RxQueue(0)
	for {
		data, _, err := rx.ReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			continue // the link went down: the next process comes
		}
		f, gen, seq, _ := frameID(data)
		c.mu.Lock()
		if msg := checkFrame(data, from, gen, seq); (msg != "" || f != from) && c.bad == "" {
			c.bad = msg
		}
		if last, ok := c.last[gen]; ok && seq <= last && c.bad == "" {
			c.bad = "generation " + strconv.Itoa(gen) + ": frame " + strconv.Itoa(seq) + " after " + strconv.Itoa(last)
		}
		c.last[gen] = seq
		c.n[gen]++
		c.mu.Unlock()
	}
}

func (c *genCollector) count(gen int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[gen]
}

// TestTapSIGKILL: a Go peer in its own process, streaming through the tap,
// is killed with SIGKILL (no DISCONNECT: its socket just closes), on
// either side. The other peer is told why, a new process comes up, the
// tap reconnects and forwarding resumes; nothing is duplicated or
// corrupt, and the capture goes on.
func TestTapSIGKILL(t *testing.T) {
	for _, killed := range []Side{Upstream, Downstream} {
		t.Run(killed.String(), func(t *testing.T) {
			up, down := sockPath(t, "server.sock"), sockPath(t, "tap.sock")
			ev := &events{t: t}
			tap, err := New(&Config{
				Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, ConnectWait: time.Minute},
				Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down},
				Capture:    &Capture{W: discard{}},
				OnEvent:    ev.add,
			})
			must(t, err)
			// The survivor, in this process, receives what the helper streams.
			var h *memifpcap.Handle
			var helper *exec.Cmd
			var stop func() error
			role, sock := "client", down
			if killed == Upstream {
				role, sock = "server", up
				helper = startHelper(t, role, sock, 1)
				stop = runTap(t, tap)
				h = openPeer(t, memifpcap.Config{Socket: down, ConnectWait: time.Minute, ReconnectInterval: 100 * time.Millisecond})
			} else {
				h = openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up})
				stop = runTap(t, tap)
				helper = startHelper(t, role, sock, 1)
			}
			col := &genCollector{last: map[int]int{}, n: map[int]int{}}
			var wg sync.WaitGroup
			wg.Go(func() { col.read(h, killed) })
			waitFor(t, "frames of the first process", time.Minute, func() bool { return col.count(1) >= 300 })
			d0 := h.Stats().Disconnects
			must(t, helper.Process.Signal(syscall.SIGKILL))
			reason := linkEnded(t, h, d0, time.Minute)
			if want := killed.String() + " link down: peer closed the control channel"; !strings.Contains(reason, want) {
				t.Errorf("the survivor was told %q, want %q", reason, want)
			}
			startHelper(t, role, sock, 2)
			waitFor(t, "frames of the second process", time.Minute, func() bool { return col.count(2) >= 300 })
			h.Close()
			wg.Wait()
			must(t, stop())
			col.mu.Lock()
			defer col.mu.Unlock()
			if col.bad != "" {
				t.Fatal(col.bad)
			}
			if st := tap.Stats(); st.Sessions != 2 || st.FromUpstream.Recorded+st.FromDownstream.Recorded != st.FromUpstream.Frames+st.FromDownstream.Frames {
				t.Errorf("tap stats %+v: want 2 sessions, every frame forwarded recorded", st)
			}
		})
	}
}
