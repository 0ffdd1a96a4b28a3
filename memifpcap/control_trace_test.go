package memifpcap_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// lines collects what OnControl is told.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	l.l = append(l.l, s)
	l.mu.Unlock()
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

// OnControl sees the whole handshake on both sides, in order, and the
// DISCONNECT at the end.
func TestOnControl(t *testing.T) {
	t.Parallel()
	var sl, cl lines
	sock := sockPath(t)
	srv, cli := pair(t,
		memifpcap.Config{Socket: sock, ID: 3, OnControl: sl.add},
		memifpcap.Config{Socket: sock, ID: 3, Secret: "s", RingSize: 256, OnControl: cl.add})
	handshake := []string{
		`HELLO name "memifpcap" versions 2.0-2.0 max region 255, max rings c2s 255 s2c 255, max ring size 16384`,
		`INIT version 2.0 id 3 mode ethernet name "memifpcap", a secret`,
		`ACK`,
		`ADD_REGION 0 size 1057024 (with its fd)`, // 2 rings of 128 + 256×16 bytes, 512 buffers of 2048
		`ACK`,
		`ADD_RING c2s 0 region 0 offset 0 size 256 (with its fd)`,
		`ACK`,
		`ADD_RING s2c 0 region 0 offset 4224 size 256 (with its fd)`,
		`ACK`,
		`CONNECT interface "memifpcap3"`,
		`CONNECTED interface "memifpcap3"`,
	}
	// who says which message: the server HELLO, ACK and CONNECTED.
	from := func(server bool) []string {
		var want []string
		for _, m := range handshake {
			bySrv := strings.HasPrefix(m, "HELLO") || m == "ACK" || strings.HasPrefix(m, "CONNECTED")
			if bySrv == server {
				want = append(want, "sent "+m)
			} else {
				want = append(want, "received "+m)
			}
		}
		return want
	}
	require.Equal(t, from(false), cl.get())
	require.Eventually(t, func() bool { return len(sl.get()) == len(handshake) }, 20*time.Second, time.Millisecond, "the server's CONNECTED line")
	require.Equal(t, from(true), sl.get())

	require.NoError(t, cli.Close())
	waitDisconnects(t, srv, 1)
	last := func(l *lines) string { all := l.get(); return all[len(all)-1] }
	require.Equal(t, `sent DISCONNECT "Device closed"`, last(&cl))
	require.Eventually(t, func() bool { return last(&sl) == `received DISCONNECT "Device closed"` }, 20*time.Second, time.Millisecond, "the server's DISCONNECT line")
}
