//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/testpmd"
)

// TestInteropDPDK replays into DPDK 22.11's testpmd: its memif port (the
// server) forwards everything it receives to a net_pcap port, which DPDK
// writes to a pcap file (DPDK's net_pcap vdev with tx_pcap=FILE). That file
// holds exactly the frames of the captures (synthetic ones, and the
// recorded ones of testdata/pcaps), byte for byte, in order, jumbo frames
// included: a third-party peer read them off the ring.
func TestInteropDPDK(t *testing.T) {
	testpmd.Require(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "memif.sock")
	out := filepath.Join(dir, "dpdk-received.pcap")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := testpmd.Start(ctx, testpmd.Config{
		Role:    "server",
		Socket:  sock,
		Forward: "io",
		// A 9014-byte frame in one mbuf, so that net_pcap writes it whole.
		MbufSize: 9216 + 128,
		ExtraEAL: []string{"--vdev=net_pcap0,tx_pcap=" + out},
		// Without --no-flush-rx, "start" drops what arrives meanwhile.
		ExtraApp: []string{"--port-topology=paired", "--no-flush-rx"},
		Log:      logWriter{t},
	})
	require.NoError(t, err)
	stopped := false
	defer func() {
		if !stopped {
			p.Stop()
		}
	}()
	require.NoError(t, p.StartForwarding())

	rs := records(0, 1000) // 60..9014 bytes
	file := filepath.Join(dir, "a.pcapng")
	writePcapng(t, file, layers.LinkTypeEthernet, rs)
	files := []string{file}
	// And the recorded captures, if they are there.
	if shipped, _ := filepath.Glob(filepath.Join(shippedDir, "*.pcap*")); len(shipped) > 0 {
		for _, f := range shipped {
			rs = append(rs, readPcapgo(t, f)...)
		}
		files = append(files, shipped...)
	} else {
		t.Logf("no captures in %s: synthetic frames only", shippedDir)
	}
	// memifinject's own steps, as run takes them, so that the test can
	// act between the drain and the close: DPDK 22.11 may crash when its
	// peer leaves while it forwards (bug 1), and its counters read 0 once
	// the link is down (bug 3). As the client memifinject owns the
	// buffers: 9216 bytes hold a jumbo frame in one descriptor, which DPDK
	// 22.11 needs for exact jumbo frames (bug 2).
	o, err := parseArgs(append([]string{"-socket", sock, "-buffer-size", "9216", "-pps", "20000"}, files...), io.Discard)
	require.NoError(t, err)
	in, err := loadInputs(ctx, o.files, o.cfg.Mode, o.lim, loadOptions{})
	require.NoError(t, err)
	h, err := connect(ctx, o.cfg, o.wait, io.Discard)
	require.NoError(t, err)
	defer h.Close()
	r := newReplay(ctx, h, in, o, io.Discard)
	require.NoError(t, r.run())
	require.NoError(t, h.Drain(ctx), "DPDK did not take every frame")
	want := uint64(len(rs))
	s := r.summary()
	require.Equal(t, want, s.packets)
	require.Zero(t, s.failed)
	// DPDK counts a burst after handing its slots back: poll briefly.
	var st testpmd.Stats
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err = p.Stats(ctx)
		require.NoError(t, err)
		if st.RxPackets >= want || time.Now().After(deadline) {
			break
		}
	}
	require.Equal(t, want, st.RxPackets)
	require.Equal(t, bytesOf(rs), st.RxBytes)
	require.NoError(t, p.StopForwarding())
	require.NoError(t, r.finish())

	stopped = true
	result, err := p.Stop() // quit closes net_pcap's file
	if errors.Is(err, testpmd.ErrCrashed) {
		t.Fatalf("testpmd crashed (%s) although it had stopped forwarding", result.Signal)
	}
	require.NoError(t, err)
	require.Equal(t, want, result.FwdRxPackets)
	got := readPcapgo(t, out)
	require.Equal(t, len(rs), len(got))
	for i := range rs {
		require.True(t, bytes.Equal(rs[i].data, got[i].data), "frame %d: DPDK wrote %d bytes, want %d", i, len(got[i].data), len(rs[i].data))
	}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	if os.Getenv("MEMIFPCAP_TESTPMD_LOG") != "" {
		w.t.Logf("testpmd: %s", bytes.TrimRight(b, "\n"))
	}
	return len(b), nil
}
