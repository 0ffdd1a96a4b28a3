package memiftap

import (
	"fmt"
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
