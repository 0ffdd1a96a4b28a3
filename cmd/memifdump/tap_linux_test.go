package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// TestTapMode: memifdump -tap-socket between a Go server app and a Go
// client app, two queues: the frames cross both ways exactly, and the
// pcapng holds each once with its link, direction and queue; SIGINT ends
// it with the counts and a complete file.
func TestTapMode(t *testing.T) {
	dir := t.TempDir()
	up, down, out := filepath.Join(dir, "vpp.sock"), filepath.Join(dir, "tap.sock"), filepath.Join(dir, "tap.pcapng")
	server, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: up, RxQueues: 2, TxQueues: 2, ReadTimeout: 20 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { server.Close() })
	r := startDump(t, "-socket", up, "-rx-queues", "2", "-tx-queues", "2", "-tap-socket", down, "-tap-id", "7", "-tap-buffer-size", "1024", "-w", out)
	client, err := memifpcap.Open(&memifpcap.Config{Socket: down, ID: 7, RxQueues: 2, TxQueues: 2, ConnectWait: 20 * time.Second, ReadTimeout: 20 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })

	frames := udpFrames(t, 50)
	frames = append(frames, udpFrame(t, 99, 3000)) // a chain of 1024-byte buffers downstream
	for q := range 2 {
		for i, f := range frames {
			require.NoError(t, client.TxQueue(q).WritePacketData(f), "client frame %d", i)
			require.NoError(t, server.TxQueue(q).WritePacketData(f), "server frame %d", i)
		}
	}
	for q := range 2 {
		for i, f := range frames {
			got, _, err := server.RxQueue(q).ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, f, got, "queue %d frame %d at the server", q, i)
			got, _, err = client.RxQueue(q).ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, f, got, "queue %d frame %d at the client", q, i)
		}
	}
	waitFor(t, "the tap to count every frame", func() bool {
		return strings.Contains(r.stderr.String(), "downstream up")
	})
	require.Equal(t, 0, r.stop(t), r.stderr.String())
	stderr := r.stderr.String()
	n := uint64(4 * len(frames))
	require.Equal(t, map[string]uint64{"captured": n, "received": n, "dropped": 0}, statLines(t, stderr), stderr)
	require.Contains(t, stderr, "upstream -> downstream: 102 packets forwarded")
	c := readCaptureFile(t, out)
	require.True(t, c.ng)
	require.Len(t, c.records, int(n))
	require.Contains(t, c.intf.Name, "vpp.sock id 0")
	require.Len(t, c.stats, 2)
	needTshark(t)
	b, err := exec.Command("tshark", "-r", out, "-T", "fields", "-e", "frame.interface_id", "-e", "frame.interface_name",
		"-e", "frame.packet_flags_direction", "-e", "frame.interface_queue").Output()
	require.NoError(t, err)
	count := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		count[l]++
	}
	want := map[string]int{}
	for q := range 2 {
		want[strings.Join([]string{"0", "memif " + up + " id 0", "0x00000001", string(rune('0' + q))}, "\t")] = len(frames)
		want[strings.Join([]string{"1", "memif " + down + " id 7", "0x00000001", string(rune('0' + q))}, "\t")] = len(frames)
	}
	require.Equal(t, want, count)
}

// TestTapModeUsage: the tap flags need -tap-socket, and tap mode takes no
// rotation, count or file reading.
func TestTapModeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-tap-id", "3"},
		{"-tap-socket", "/tmp/x.sock", "-c", "10"},
		{"-tap-socket", "/tmp/x.sock", "-tap-role", "boss"},
		{"-tap-socket", "/tmp/x.sock", "-tap-buffer-size", "70000"},
		{"-role", "server", "-socket", "/tmp/x.sock", "-tap-socket", "/tmp/x.sock"},
	} {
		var stderr syncBuffer
		code := run(context.Background(), args, &stderr, &stderr)
		require.Equal(t, 2, code, "%q: %s", args, stderr.String())
	}
}
