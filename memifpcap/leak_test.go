//go:build linux

package memifpcap_test

import (
	"bytes"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// mappings counts shared-memory mappings (memfd regions); the Go runtime's
// own anonymous mappings grow with the heap and are not ours.
type resources struct{ fds, goroutines, mappings int }

func countResources(t *testing.T) resources {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	maps, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	return resources{len(fds), runtime.NumGoroutine(), bytes.Count(maps, []byte("/memfd:"))}
}

// settle waits for goroutines that are on their way out (closed
// connections' pollers, timers) and returns the counts: once they equal
// want, or (want nil) once two readings 50 ms apart agree.
func settle(t *testing.T, want *resources) resources {
	t.Helper()
	prev := resources{-1, -1, -1}
	for end := time.Now().Add(3 * time.Second); ; {
		runtime.GC()
		got := countResources(t)
		if (want != nil && got == *want) || (want == nil && got == prev) || time.Now().After(end) {
			return got
		}
		prev = got
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLeakOpenConnectClose: 1000 cycles of a server and a client opening,
// connecting, exchanging a frame and closing (alternating who closes first),
// each with a hostile handshake the server refuses, leave the process with
// the same fds, goroutines and shared-memory mappings.
func TestLeakOpenConnectClose(t *testing.T) {
	sock := sockPath(t)
	// A hostile client's memory, made once: each cycle it is also offered
	// in a handshake the server refuses, so the refusal paths (fds
	// received, regions mapped, eventfds taken) are counted too.
	m, err := hostile.NewMemory(hostileLayout(), true)
	require.NoError(t, err)
	defer m.Close()
	offer := m.Offer()
	refusals := []struct {
		steps  []hostile.Step
		reason string
	}{
		{[]hostile.Step{{Msg: control.AddRegion{Size: m.Layout.RegionSize() + 1}, FDs: []int{m.FD}}, offer[1], offer[2]}, "Failed to map region 0"},
		{[]hostile.Step{offer[0], {Msg: offer[1].Msg, FDs: []int{m.C2SEv, m.FD, m.S2CEv}}}, "Invalid message"},
		{[]hostile.Step{offer[0], offer[1], {Msg: control.AddRing{Offset: uint32(m.Layout.RegionSize()) - 64, Log2RingSize: 4}, FDs: []int{m.S2CEv}}}, "outside region"},
	}
	cycle := func(i int) {
		srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ReadTimeout: 5 * time.Second})
		require.NoError(t, err)
		r := refusals[i%len(refusals)]
		refused(t, sock, r.steps, true, r.reason)
		cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, RingSize: 16, BufferSize: 256, ReadTimeout: 5 * time.Second})
		require.NoError(t, err)
		require.NoError(t, srv.WaitLinkUp(waitCtx(t, 5*time.Second)))
		require.NoError(t, cli.WritePacketData(frame(i, 60)))
		data, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, frame(i, 60), data)
		if i%2 == 0 {
			require.NoError(t, cli.Close())
			require.NoError(t, srv.Close())
		} else {
			require.NoError(t, srv.Close())
			require.NoError(t, cli.Close())
		}
	}
	for i := 0; i < 10; i++ { // warm up: pools, the poller, timers
		cycle(i)
	}
	before := settle(t, nil)
	// While a link is up there are fds and mappings to count: the
	// measurement sees them.
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, RingSize: 16, BufferSize: 256})
	require.NoError(t, err)
	require.NoError(t, srv.WaitLinkUp(waitCtx(t, 5*time.Second)))
	up := countResources(t)
	require.Equal(t, before.mappings+2, up.mappings, "one region, mapped by each side")
	require.Greater(t, up.fds, before.fds)
	cli.Close()
	srv.Close()
	for i := 0; i < 1000; i++ {
		cycle(i)
	}
	after := settle(t, &before)
	t.Logf("before %+v, after 1000 cycles %+v", before, after)
	require.Equal(t, before, after)
}
