//go:build linux

package memifpcap_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/netnstest"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// A server in a network namespace on an abstract socket, as in a pod; a
// client from outside reaches it by VPP's netns_name address, and frames go
// both ways. Without the namespace the name is not there.
func TestNetnsLink(t *testing.T) {
	ns := netnstest.New(t)
	name := fmt.Sprintf("memifpcap-netns-link-%d", os.Getpid())
	srv, cli := pair(t,
		memifpcap.Config{Socket: "@" + name, Netns: ns},
		memifpcap.Config{Socket: "abstract:" + name + ",netns_name=" + ns})
	transfer(t, cli, srv, 100, false)
	transfer(t, srv, cli, 100, true)

	_, err := memifpcap.Open(&memifpcap.Config{Socket: "@" + name})
	require.Error(t, err)
	require.Equal(t, "memif: connect @"+name+": connection refused (is the server running?)", err.Error())

	_, err = memifpcap.Open(&memifpcap.Config{Socket: "@" + name, Netns: "memifpcap-no-such-ns"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "network namespace /var/run/netns/memifpcap-no-such-ns does not exist")

	_, err = memifpcap.Open(&memifpcap.Config{Socket: "abstract:x,netns_pid=1", Netns: ns})
	require.Error(t, err)
	require.Contains(t, err.Error(), "Netns "+ns+" and Socket's netns option /proc/1/ns/net disagree")
}

// A server's socket file gets the owner, group and mode asked for.
func TestSocketOwner(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	cfg := memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, SocketPerm: 0o660}
	if os.Geteuid() == 0 {
		cfg.SocketOwner, cfg.SocketGroup = 65534, 65533
	}
	srv, err := memifpcap.Open(&cfg)
	require.NoError(t, err)
	defer srv.Close()
	fi, err := os.Lstat(sock)
	require.NoError(t, err)
	require.Equal(t, os.ModeSocket|0o660, fi.Mode())
	if cfg.SocketOwner != 0 {
		st := fi.Sys().(*syscall.Stat_t)
		require.Equal(t, [2]uint32{65534, 65533}, [2]uint32{st.Uid, st.Gid})
	}
	_, err = memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: "@x", SocketPerm: 0o600})
	require.Error(t, err)
	require.Contains(t, err.Error(), "apply to a socket file, and @x is abstract")
}
