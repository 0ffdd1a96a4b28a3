package memifpcap_test

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/testpmd"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// Crashes: the peer is killed with SIGKILL mid-stream, as a Go process
// (this test binary re-executed) and as DPDK testpmd, in both roles.

const crashHelperEnv = "MEMIFPCAP_CRASH_HELPER"

// TestCrashHelperProcess is not a test: run with MEMIFPCAP_CRASH_HELPER set
// to "server:SOCK" or "client:SOCK", it opens a Handle in that role and
// writes sequenced frames until it is killed.
func TestCrashHelperProcess(t *testing.T) {
	arg := os.Getenv(crashHelperEnv)
	if arg == "" {
		t.Skip("helper process for the crash tests")
	}
	role, sock := arg[:6], arg[7:]
	cfg := &memifpcap.Config{Socket: sock, WriteTimeout: 100 * time.Millisecond, ReconnectInterval: -1}
	if role == "server" {
		cfg.Role = memifpcap.RoleServer
	}
	h, err := memifpcap.Open(cfg)
	if err != nil {
		os.Exit(3)
	}
	for i := 0; ; {
		if err := h.WritePacketData(frame(i, frameLen(i)%1500+60)); err == nil {
			i++
		} else if !errors.Is(err, memifpcap.ErrTimeout) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func startHelper(t *testing.T, role, sock string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+role+":"+sock)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// readSequence reads n frames and checks they are frames from..from+n-1
// of the helper, intact; it returns the next expected number.
func readSequence(t *testing.T, h *memifpcap.Handle, from, n int) int {
	t.Helper()
	for i := from; i < from+n; i++ {
		data, _, err := h.ReadPacketData()
		require.NoError(t, err, "frame %d", i)
		require.GreaterOrEqual(t, len(data), 4)
		seq := int(binary.BigEndian.Uint32(data))
		require.Equal(t, i, seq, "frame out of sequence (lost, duplicated or reordered)")
		require.Equal(t, frame(i, frameLen(i)%1500+60), data, "frame %d corrupted", i)
	}
	return from + n
}

// readUntilDown reads the frames still in the ring after the kill (in
// sequence) and then expects link down, never io.EOF.
func readUntilDown(t *testing.T, h *memifpcap.Handle, next int) {
	t.Helper()
	for {
		data, _, err := h.ReadPacketData()
		if err != nil {
			require.ErrorIs(t, err, memifpcap.ErrLinkDown)
			require.NotErrorIs(t, err, io.EOF)
			return
		}
		require.Equal(t, frame(next, frameLen(next)%1500+60), data, "frame %d after the kill", next)
		next++
	}
}

func kill(t *testing.T, cmd *exec.Cmd) {
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "signal: killed", ee.Error())
}

func TestCrashGoServerKilled(t *testing.T) {
	t.Parallel()
	// The default retry interval is libmemif's examples' 2 s; the test
	// uses 100 ms to stay fast.
	require.Equal(t, 2*time.Second, memifpcap.DefaultReconnectInterval)
	sock := sockPath(t)
	srv := startHelper(t, "server", sock)
	var cli *memifpcap.Handle
	require.Eventually(t, func() bool {
		var err error
		cli, err = memifpcap.Open(&memifpcap.Config{Socket: sock, ReadTimeout: 5 * time.Second, ReconnectInterval: 100 * time.Millisecond})
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	defer cli.Close()
	next := readSequence(t, cli, 0, 2000)
	kill(t, srv)
	readUntilDown(t, cli, next)
	startHelper(t, "server", sock)
	require.NoError(t, cli.WaitLinkUp(waitCtx(t, 10*time.Second)), "the client reconnects by itself")
	readSequence(t, cli, 0, 2000) // the new server starts at 0
	st := cli.Stats()
	require.Equal(t, uint64(2), st.Connects)
	require.Equal(t, uint64(1), st.Disconnects)
	require.GreaterOrEqual(t, st.Packets, uint64(4000))
	require.Zero(t, st.BadDescriptors)
}

func TestCrashGoClientKilled(t *testing.T) {
	t.Parallel()
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer srv.Close()
	for round := 0; round < 3; round++ {
		cli := startHelper(t, "client", sock)
		require.NoError(t, srv.WaitLinkUp(waitCtx(t, 10*time.Second)), "round %d", round)
		next := readSequence(t, srv, 0, 2000)
		kill(t, cli)
		readUntilDown(t, srv, next)
	}
	st := srv.Stats()
	require.Equal(t, uint64(3), st.Connects)
	require.Equal(t, uint64(3), st.Disconnects)
	require.GreaterOrEqual(t, st.Packets, uint64(6000))
}

// testpmd killed with SIGKILL while it echoes our frames.
func TestCrashTestpmdServerKilled(t *testing.T) {
	sock := abstractName(t)
	p := startPeer(t, testpmd.Config{Role: "server", Socket: sock, Forward: "io"})
	h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, ReadTimeout: 10 * time.Second, ReconnectInterval: 200 * time.Millisecond})
	require.NoError(t, err)
	defer h.Close()
	require.NoError(t, p.WaitConnected(waitCtx(t, 30*time.Second)))
	require.NoError(t, p.StartForwarding())
	echo(t, h, []int{64, 1500}, 500)
	p.Kill()
	_, _, err = h.ReadPacketData()
	require.ErrorIs(t, err, memifpcap.ErrLinkDown)
	require.NotErrorIs(t, err, io.EOF)
	res := stopPeer(t, p)
	require.Equal(t, "SIGKILL", res.Signal)

	p2 := startPeer(t, testpmd.Config{Role: "server", Socket: sock, Forward: "io"})
	require.NoError(t, h.WaitLinkUp(waitCtx(t, 30*time.Second)), "the client reconnects by itself")
	require.NoError(t, p2.WaitConnected(waitCtx(t, 30*time.Second)))
	require.NoError(t, p2.StartForwarding())
	echo(t, h, []int{64, 1500}, 500)
	require.NoError(t, p2.StopForwarding())
	st := h.Stats()
	require.Equal(t, uint64(2000), st.Packets)
	require.Equal(t, uint64(2), st.Connects)
	require.Zero(t, st.BadDescriptors)
}

func TestCrashTestpmdClientKilled(t *testing.T) {
	sock := sockPath(t)
	h, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	for round := 0; round < 2; round++ {
		p := startPeer(t, testpmd.Config{Role: "client", Socket: sock, Forward: "io"})
		require.NoError(t, h.WaitLinkUp(waitCtx(t, 30*time.Second)), "round %d", round)
		require.NoError(t, p.StartForwarding())
		echo(t, h, []int{64, 1500}, 500)
		p.Kill()
		_, _, err = h.ReadPacketData()
		require.ErrorIs(t, err, memifpcap.ErrLinkDown, "round %d", round)
		require.NotErrorIs(t, err, io.EOF)
		res := stopPeer(t, p)
		require.Equal(t, "SIGKILL", res.Signal, "round "+strconv.Itoa(round))
	}
	st := h.Stats()
	require.Equal(t, uint64(2000), st.Packets)
	require.Equal(t, uint64(2), st.Connects)
	require.Equal(t, uint64(2), st.Disconnects)
}
