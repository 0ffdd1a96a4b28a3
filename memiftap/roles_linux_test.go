package memiftap

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// TestTapRolePairs: every pair of roles, the tap's on each link, with Go
// peers in the opposite roles; frames cross both ways, exactly.
func TestTapRolePairs(t *testing.T) {
	t.Parallel()
	roles := []memifpcap.Role{memifpcap.RoleClient, memifpcap.RoleServer}
	for _, ur := range roles {
		for _, dr := range roles {
			t.Run(fmt.Sprintf("tap_%v_up_%v_down", ur, dr), func(t *testing.T) {
				t.Parallel()
				testRolePair(t, ur, dr)
			})
		}
	}
}

func testRolePair(t *testing.T, ur, dr memifpcap.Role) {
	socks := [2]string{sockPath(t, "up.sock"), sockPath(t, "down.sock")}
	tapRoles := [2]memifpcap.Role{ur, dr}
	peers := [2]*memifpcap.Handle{}
	peerCfg := func(s Side) memifpcap.Config {
		c := memifpcap.Config{Socket: socks[s], ID: uint32(s) + 4, ReadTimeout: 20 * time.Second, ConnectWait: time.Minute, BufferSize: 1024 << s}
		if tapRoles[s] == memifpcap.RoleClient {
			c.Role = memifpcap.RoleServer
		}
		return c
	}
	// The peers the tap connects to are there first.
	for _, s := range []Side{Upstream, Downstream} {
		if tapRoles[s] == memifpcap.RoleClient {
			peers[s] = openPeer(t, peerCfg(s))
		}
	}
	ev := &events{t: t}
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: ur, Socket: socks[Upstream], ID: 4, ConnectWait: time.Minute},
		Downstream: memifpcap.Config{Role: dr, Socket: socks[Downstream], ID: 5},
		OnEvent:    ev.add,
	})
	must(t, err)
	stop := runTap(t, tap)
	for _, s := range []Side{Upstream, Downstream} {
		if peers[s] == nil {
			peers[s] = openPeer(t, peerCfg(s))
		}
	}
	ctx := ctxFor(t, time.Minute)
	for _, s := range []Side{Upstream, Downstream} {
		must(t, peers[s].WaitLinkUp(ctx))
	}
	const n = 50
	errc := make(chan error, 2)
	for _, s := range []Side{Upstream, Downstream} {
		go func() { errc <- recvFrames(peers[s.other()], 0, s, n) }()
		must(t, sendFrames(ctx, peers[s], 0, s, n))
	}
	for range 2 {
		must(t, <-errc)
	}
	must(t, stop())
	if st := tap.Stats(); st.FromUpstream.Frames != n || st.FromDownstream.Frames != n {
		t.Fatalf("stats %+v", st)
	}
}

// TestTapModeMismatch: a peer whose mode differs from the tap's links is
// refused with the reason, on either side.
func TestTapModeMismatch(t *testing.T) {
	t.Parallel()
	up, down := sockPath(t, "up.sock"), sockPath(t, "down.sock")
	openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, Mode: memifpcap.ModeIP})
	tap, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up, Mode: memifpcap.ModeIP, ConnectWait: time.Minute},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: down, Mode: memifpcap.ModeIP},
		OnEvent:    (&events{t: t}).add,
	})
	must(t, err)
	runTap(t, tap)
	waitFor(t, "the tap to listen", time.Minute, func() bool { return tap.Stats().Sessions == 0 && fileExists(down) })
	_, err = memifpcap.Open(&memifpcap.Config{Socket: down, Mode: memifpcap.ModeEthernet})
	if err == nil || !strings.Contains(err.Error(), "Mode mismatch") {
		t.Fatalf("an ethernet client of an ip tap: %v, want Mode mismatch", err)
	}
	// The tap as an ethernet client of an ip server is refused too, and
	// Run says so.
	up2 := sockPath(t, "up2.sock")
	openPeer(t, memifpcap.Config{Role: memifpcap.RoleServer, Socket: up2, Mode: memifpcap.ModeIP})
	tap2, err := New(&Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: up2},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: sockPath(t, "d2.sock")},
	})
	must(t, err)
	if err := tap2.Run(ctxFor(t, time.Minute)); err == nil || !strings.Contains(err.Error(), "Only ethernet mode supported") && !strings.Contains(err.Error(), "Mode mismatch") {
		t.Fatalf("the tap (ethernet) against an ip server: %v", err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
