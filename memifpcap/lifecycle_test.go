//go:build linux

package memifpcap_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/hostile"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// Every frame WritePacketData accepted reaches a peer that keeps reading,
// although Close comes right after the last write: Close lingers until the
// peer took them.
func TestCloseLingerDeliversEverything(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock, ReadTimeout: 20 * time.Second, RingSize: 256},
		memifpcap.Config{Socket: sock, ReconnectInterval: -1, RingSize: 256, WriteTimeout: 20 * time.Second})
	const n = 2000
	got := make(chan int, 1)
	go func() {
		i := 0
		for {
			data, _, err := srv.ReadPacketData()
			if err != nil {
				got <- i
				return
			}
			if !bytesEqual(data, frame(i, 64)) {
				got <- -i - 1
				return
			}
			i++
		}
	}()
	for i := range n {
		require.NoError(t, cli.WritePacketData(frame(i, 64)))
	}
	require.NoError(t, cli.Close())
	require.Equal(t, n, result(t, got, 30*time.Second, "reader"), "frames the server read, in order, before the link went down")
	st := cli.Stats()
	require.Equal(t, uint64(n), st.TxPackets)
	require.Zero(t, st.TxLost)
	require.Zero(t, st.TxDropped)
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// A peer that takes nothing: Close waits CloseLinger, then counts every
// frame in the ring as lost; CloseContext with an ended context does not
// wait at all.
func TestCloseCountsWhatThePeerNeverTook(t *testing.T) {
	t.Parallel()
	for _, ctxDone := range []bool{false, true} {
		sock := sockPath(t)
		_, cli := pair(t, memifpcap.Config{Socket: sock},
			memifpcap.Config{Socket: sock, ReconnectInterval: -1, CloseLinger: 50 * time.Millisecond})
		for i := range 10 {
			require.NoError(t, cli.WritePacketData(frame(i, 100)))
		}
		require.Equal(t, 10, cli.TxInFlight())
		ctx, cancel := context.WithCancel(context.Background())
		if ctxDone {
			cancel()
		}
		require.NoError(t, cli.CloseContext(ctx))
		cancel()
		st := cli.Stats()
		require.Equal(t, uint64(10), st.TxPackets)
		require.Equal(t, uint64(10), st.TxLost)
		require.Equal(t, uint64(10), st.TxDropped)
		require.Zero(t, cli.TxInFlight())
	}
}

// Frames in the ring when the link goes down are counted as lost, once,
// a chain of descriptors as one frame.
func TestLinkDownCountsLostFrames(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock, ReconnectInterval: -1})
	for i := range 7 {
		n := 100
		if i%2 == 1 {
			n = 5000 // three 2048-byte descriptors
		}
		require.NoError(t, srv.WritePacketData(frame(i, n)))
	}
	require.Equal(t, 7, srv.TxInFlight())
	require.NoError(t, cli.CloseContext(canceled()))
	waitDisconnects(t, srv, 1)
	st := srv.Stats()
	require.Equal(t, uint64(7), st.TxLost)
	require.Equal(t, uint64(7), st.TxDropped)
	require.Zero(t, srv.TxInFlight())
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// A write blocked on a full ring of a peer that stopped reading ends when
// its context does, even with no WriteTimeout; the frame counts as dropped.
func TestWriteContextInterruptsAFullRing(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	_, cli := pair(t, memifpcap.Config{Socket: sock, RingSize: 4},
		memifpcap.Config{Socket: sock, RingSize: 4, WriteTimeout: -1, ReconnectInterval: -1, CloseLinger: -1})
	for i := range 4 {
		require.NoError(t, cli.WritePacketData(frame(i, 60)))
	}
	for _, batch := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		full := cli.Stats().TxRingFull
		go func() {
			if batch {
				_, err := cli.WriteBatchContext(ctx, []memifpcap.Message{{Buffers: [][]byte{frame(9, 60)}}})
				errc <- err
				return
			}
			errc <- cli.WritePacketDataContext(ctx, frame(9, 60))
		}()
		require.Eventually(t, func() bool { return cli.Stats().TxRingFull > full }, 20*time.Second, time.Millisecond,
			"the write never found the ring full")
		cancel()
		require.ErrorIs(t, result(t, errc, 20*time.Second, "the interrupted write"), context.Canceled)
	}
	require.Equal(t, uint64(2), cli.Stats().TxDropped)
}

// A client waits for a server that is starting: first no socket, then a
// server that does not serve our id yet ("ID not found", as testpmd before
// its port starts), then ours.
func TestOpenWaitsForAStartingServer(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	refusals := make(chan string, 100)
	opened := make(chan error, 1)
	var cli *memifpcap.Handle
	go func() {
		var err error
		cli, err = memifpcap.Open(&memifpcap.Config{Socket: sock, ID: 3, ConnectWait: time.Minute,
			OnRefuse: func(r string) { refusals <- r }})
		opened <- err
	}()
	other, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 1})
	require.NoError(t, err)
	defer other.Close()
	require.Equal(t, "server refused the connection: ID not found", result(t, refusals, 30*time.Second, "refusal"))
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 3})
	require.NoError(t, err)
	defer srv.Close()
	require.NoError(t, result(t, opened, 30*time.Second, "Open"))
	defer cli.Close()
	require.True(t, cli.LinkUp())
}

// What cannot get better by waiting fails at once, with the reason said
// once; a wait that runs out returns the last attempt's reason.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	_, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.EqualError(t, err, "memif: connect "+sock+": no such file or directory (is the server running?)")

	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 1, Secret: "right"})
	require.NoError(t, err)
	defer srv.Close()
	_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, ID: 2, ConnectWait: 300 * time.Millisecond})
	require.EqualError(t, err, "memif: connect "+sock+" id 2: server refused the connection: ID not found")

	var refusals []string
	_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, ID: 1, Secret: "wrong", ConnectWait: time.Hour,
		OnRefuse: func(r string) { refusals = append(refusals, r) }})
	require.EqualError(t, err, "memif: connect "+sock+" id 1: server refused the connection: Incorrect secret")
	require.Equal(t, []string{"server refused the connection: Incorrect secret"}, refusals, "no retry")
}

// A server tells OnRefuse about every client it refuses.
func TestServerReportsRefusals(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	refusals := make(chan string, 10)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, Secret: "right",
		OnRefuse: func(r string) { refusals <- r }})
	require.NoError(t, err)
	defer srv.Close()
	_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, Secret: "wrong"})
	require.Error(t, err)
	require.Contains(t, result(t, refusals, 20*time.Second, "refusal"), "Incorrect secret")
	_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, ID: 9})
	require.Error(t, err)
	require.Contains(t, result(t, refusals, 20*time.Second, "refusal"), "ID not found")
}

// OpenContext's context ends a handshake with a server that never
// answers, long before the handshake timeout.
func TestOpenContextInterruptsAStalledHandshake(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	l, err := hostile.Listen(sock)
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept(time.Minute)
		if err == nil {
			defer c.Close()
			time.Sleep(time.Minute) // never says HELLO
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	opened := make(chan error, 1)
	go func() {
		_, err := memifpcap.OpenContext(ctx, &memifpcap.Config{Socket: sock, HandshakeTimeout: time.Hour})
		opened <- err
	}()
	// Cancelling at any point, before or during the handshake, must end
	// Open with the context's error.
	time.Sleep(50 * time.Millisecond)
	cancel()
	err = result(t, opened, 20*time.Second, "OpenContext")
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, strings.Contains(err.Error(), "interrupted"), err.Error())
	require.False(t, errors.Is(err, memifpcap.ErrTimeout))
}

// Each side knows the other's names from the handshake.
func TestPeerName(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock, Name: "the-server", IfName: "srv0"},
		memifpcap.Config{Socket: sock, Name: "the-client", IfName: "cli0"})
	name, ifName := srv.PeerName()
	require.Equal(t, "the-client", name)
	require.Equal(t, "cli0", ifName)
	name, ifName = cli.PeerName()
	require.Equal(t, "the-server", name)
	require.Equal(t, "srv0", ifName)
	require.NoError(t, cli.CloseContext(canceled()))
	waitDisconnects(t, srv, 1)
	name, ifName = srv.PeerName()
	require.Empty(t, name+ifName)
}
