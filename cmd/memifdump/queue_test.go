package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// queueFrames sends n distinct frames on each of the server's transmit
// queues (frame i of queue q carries seq q*1000+i) and returns them by
// queue.
func queueFrames(t *testing.T, srv *memifpcap.Handle, n int) [][][]byte {
	t.Helper()
	byQueue := make([][][]byte, srv.NumTxQueues())
	for q := range byQueue {
		for i := range n {
			f := udpFrame(t, q*1000+i, 30+q)
			byQueue[q] = append(byQueue[q], f)
			require.NoError(t, srv.TxQueue(q).WritePacketData(f), "queue %d frame %d", q, i)
		}
	}
	return byQueue
}

func TestCaptureQueuesPcapng(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.pcapng")
	r, srv := dumpClientOf(t, memifpcap.Config{TxQueues: 4}, "-rx-queues", "4", "-w", out, "-c", "40")
	rx, tx := srv.ConnectedQueues()
	require.Equal(t, [2]int{1, 4}, [2]int{rx, tx})
	want := queueFrames(t, srv, 10)
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	assert.Equal(t, map[string]uint64{"captured": 40, "received": 40, "dropped": 0}, statLines(t, r.stderr.String()))

	c := readCaptureFile(t, out)
	require.True(t, c.ng)
	require.Len(t, c.records, 40)
	// Every frame is in the interface block of its queue, each queue's
	// frames in the order sent.
	got := make([][][]byte, 4)
	for i, rec := range c.records {
		q := rec.ci.InterfaceIndex
		require.True(t, q >= 0 && q < 4, "record %d: interface %d", i, q)
		got[q] = append(got[q], rec.data)
	}
	require.Equal(t, want, got)

	// The blocks name their queues, and each has its own counts.
	b, err := pcapgo.NewNgReader(bytes.NewReader(mustRead(t, out)), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	for {
		if _, _, err := b.ReadPacketData(); err != nil {
			break
		}
	}
	require.Equal(t, 4, b.NInterfaces())
	sock := strings.Fields(r.stderr.String())[3]
	for q := range 4 {
		intf, err := b.Interface(q)
		require.NoError(t, err)
		assert.Equal(t, "memif "+sock+" id 0 queue "+strconv.Itoa(q), intf.Name)
	}
	require.Len(t, c.stats, 4)
	for q, st := range c.stats {
		assert.Equal(t, uint64(10), st.PacketsReceived, "queue %d", q)
	}

	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark is not installed: interface ids checked with pcapgo only")
		return
	}
	requireTsharkAgrees(t, out, c)
	ids, err := exec.Command("tshark", "-r", out, "-T", "fields", "-e", "frame.interface_id").Output()
	require.NoError(t, err)
	var wantIDs strings.Builder
	for _, rec := range c.records {
		wantIDs.WriteString(strconv.Itoa(rec.ci.InterfaceIndex) + "\n")
	}
	assert.Equal(t, wantIDs.String(), string(ids))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// TestCaptureQueuesPcap: a pcap file has every queue's frames
// interleaved, and -c is exact across queues.
func TestCaptureQueuesPcap(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.pcap")
	r, srv := dumpClientOf(t, memifpcap.Config{TxQueues: 3}, "-rx-queues", "3", "-w", out, "-c", "25")
	// 30 frames for a capture of 25: memifdump may leave before the last
	// writes, which then find the link down.
	want := make([][][]byte, 3)
	written := 0
	for q := range want {
		for i := range 10 {
			f := udpFrame(t, q*1000+i, 30+q)
			want[q] = append(want[q], f)
			err := srv.TxQueue(q).WritePacketData(f)
			if written < 25 {
				require.NoError(t, err, "queue %d frame %d", q, i)
			}
			written++
		}
	}
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	st := statLines(t, r.stderr.String())
	assert.Equal(t, uint64(25), st["captured"])
	assert.GreaterOrEqual(t, st["received"], uint64(25))

	c := readCaptureFile(t, out)
	require.False(t, c.ng)
	require.Len(t, c.records, 25)
	sent := map[string]int{}
	for q, fs := range want {
		for _, f := range fs {
			sent[string(f)] = q
		}
	}
	last := map[int]int{0: -1, 1: -1, 2: -1}
	for i, rec := range c.records {
		q, ok := sent[string(rec.data)]
		require.True(t, ok, "record %d was not sent", i)
		seq := int(rec.data[42])<<24 | int(rec.data[43])<<16 | int(rec.data[44])<<8 | int(rec.data[45])
		require.Greater(t, seq, last[q], "record %d: queue %d out of order", i, q)
		last[q] = seq
	}
}

// TestCaptureOneQueue: -queue Q reads only that queue.
func TestCaptureOneQueue(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.pcapng")
	r, srv := dumpClientOf(t, memifpcap.Config{TxQueues: 4}, "-rx-queues", "4", "-queue", "2", "-w", out, "-c", "5")
	// Queue 2 last: memifdump leaves after its 5th frame, and writes to
	// the other queues would then find the link down.
	want := make([][][]byte, 4)
	for _, q := range []int{0, 1, 3, 2} {
		for i := range 5 {
			f := udpFrame(t, q*1000+i, 30+q)
			want[q] = append(want[q], f)
			require.NoError(t, srv.TxQueue(q).WritePacketData(f), "queue %d frame %d", q, i)
		}
	}
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	assert.Equal(t, map[string]uint64{"captured": 5, "received": 5, "dropped": 0}, statLines(t, r.stderr.String()))
	c := readCaptureFile(t, out)
	require.Len(t, c.records, 5)
	for i, rec := range c.records {
		assert.Equal(t, 2, rec.ci.InterfaceIndex, "record %d", i)
		assert.Equal(t, want[2][i], rec.data, "record %d", i)
	}
}

func TestQueueFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-queue", "1"}, "memifdump: -queue 1: want 0 to 0 (-rx-queues 1)\n"},
		{[]string{"-rx-queues", "4", "-queue", "4"}, "memifdump: -queue 4: want 0 to 3 (-rx-queues 4)\n"},
		{[]string{"-rx-queues", "4", "-queue", "-1"}, "memifdump: -queue -1: want 0 to 3 (-rx-queues 4)\n"},
		{[]string{"-rx-queues", "0"}, "memifdump: -rx-queues 0: want 1 to 255\n"},
	} {
		var stderr bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		code := run(ctx, tc.args, &bytes.Buffer{}, &stderr)
		cancel()
		assert.Equal(t, 2, code, tc.args)
		assert.Equal(t, tc.want+"Run 'memifdump -h' for the flags.\n", stderr.String(), tc.args)
	}
}
