package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/testpmd"
)

// dpdkBufferSize is both tools' -buffer-size through DPDK: DPDK 22.11
// corrupts the descriptor chains it transmits (internal/testpmd, bug 2), so
// a 9014-byte frame must fit one buffer. As clients the tools own the
// buffers of both rings.
const dpdkBufferSize = "9216"

// TestThroughDPDK sends every shipped capture through DPDK 22.11's testpmd:
// two memif server ports, io forwarding from port 0 to port 1 (paired
// topology). memifinject replays the captures, one after the other, into
// port 0; memifdump captures port 1 until it has them all. The file holds
// every frame of every capture, byte for byte, in order, and tshark reads
// it.
//
// Each tool leaving is a peer disconnect for testpmd, which DPDK 22.11
// survives only 90-95 % of the time while it forwards (bug 1), and
// memifinject leaves while memifdump still receives: one run replays all
// captures, so that a test run risks two disconnects, not twenty. A crash
// after every frame was verified is logged; a crash that cut the run short
// is retried once, and fails the test the second time.
func TestThroughDPDK(t *testing.T) {
	testpmd.Require(t)
	files := captures(t)
	want := readAll(t, files...)
	for attempt := 1; ; attempt++ {
		crashed := throughDPDK(t, files, want)
		if !crashed {
			return
		}
		if attempt == 2 {
			t.Fatal("testpmd crashed before memifdump had every frame, twice in a row")
		}
		t.Logf("testpmd crashed before memifdump had every frame (DPDK 22.11's crash when a peer disconnects): once more")
	}
}

// throughDPDK is one run of TestThroughDPDK. It reports whether testpmd
// crashed before memifdump had every frame; any other failure fails t.
func throughDPDK(t *testing.T, files []string, want []frame) (crashedEarly bool) {
	t.Helper()
	dir := t.TempDir()
	sock0 := filepath.Join(dir, "port0.sock") // memifinject's
	sock1 := filepath.Join(dir, "port1.sock") // memifdump's
	out := filepath.Join(dir, "out.pcap")
	n := len(want)

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	p, err := testpmd.Start(ctx, testpmd.Config{
		Role:    "server",
		Socket:  sock0,
		Forward: "io",
		// One mbuf holds a 9014-byte frame: no mbuf chains inside DPDK.
		MbufSize: 9216 + 128,
		// The harness builds port 0 (net_memif0); port 1 is the second
		// memif vdev, spelled the same way.
		ExtraEAL: []string{"--vdev=net_memif1,role=server,id=0,socket=" + sock1 + ",socket-abstract=no"},
		// paired: what port 0 receives goes out of port 1 (and back).
		// --no-flush-rx: "start" would drop what the rings hold.
		ExtraApp: []string{"--port-topology=paired", "--no-flush-rx"},
		Log:      testpmdLog{t},
	})
	require.NoError(t, err)
	stopped := false
	stop := func() (testpmd.Result, error) {
		stopped = true
		return p.Stop()
	}
	defer func() {
		if !stopped {
			if _, err := p.Stop(); err != nil {
				t.Logf("testpmd: %v", err)
			}
		}
	}()
	// Start waits for port 0's socket only.
	waitListening(t, sock1)
	require.NoError(t, p.StartForwarding())

	dump := start(t, "memifdump", memifdump, "-role", "client", "-socket", sock1,
		"-buffer-size", dpdkBufferSize, "-w", out, "-c", strconv.Itoa(n))
	dump.waitStderr(t, startLine(sock1, "client"), startTimeout)
	// The harness sees one memif link, whichever port: memifinject is
	// not connected yet, so this is port 1 with memifdump. memifdump
	// posted its receive buffers when it connected, so DPDK can send to
	// it right away.
	{
		ctx, cancel := context.WithTimeout(ctx, startTimeout)
		err := p.WaitConnected(ctx)
		cancel()
		require.NoError(t, err, "memifdump's link to testpmd's port 1\n%s", dump.output())
	}

	inj := start(t, "memifinject", memifinject, append([]string{"-socket", sock0,
		"-buffer-size", dpdkBufferSize, "-topspeed", "-wait", "10s"}, files...)...)

	// memifdump exits after n frames. Were testpmd to crash, it would
	// lose the link first and wait for it to come back.
	linkLost := func() bool {
		return strings.Contains(dump.stderr.String(), "memifdump: link down")
	}
	deadline := time.Now().Add(runTimeout)
	for !dump.exited() && !linkLost() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !dump.exited() && linkLost() {
		res, err := stop()
		if errors.Is(err, testpmd.ErrCrashed) {
			t.Logf("testpmd: %v (signal %s)\n%s\n%s", err, res.Signal, dump.output(), inj.output())
			dump.stop()
			inj.stop()
			return true
		}
		t.Fatalf("memifdump lost its link to testpmd before it had %d frames; testpmd stopped: %v\n%s\n%s",
			n, err, dump.output(), inj.output())
	}
	dump.requireExit0(t, time.Until(deadline)+time.Second)
	injCode := inj.wait(t, runTimeout)

	// Only now: testpmd forwarded until memifdump had every frame.
	if err := p.StopForwarding(); err != nil {
		t.Logf("testpmd stop forwarding: %v", err)
	}
	// Its counters are no use here: they read 0 once the links are down
	// (bug 3). The file is the proof.
	_, err = stop()
	crashed := errors.Is(err, testpmd.ErrCrashed)
	switch {
	case crashed:
		// A peer had left while it forwarded (bug 1): harmless now.
		t.Logf("testpmd crashed after the capture was complete (DPDK 22.11's crash when a peer disconnects): %v", err)
	case err != nil:
		t.Errorf("testpmd: %v", err)
	}
	requireDumpCounts(t, dump, n)
	if crashed && injCode == 1 && strings.Contains(inj.stderr.String(), "the memif link went down before the peer took the last frames") {
		// The crash cut memifinject's wait for the ring to empty short,
		// after testpmd had forwarded every frame to memifdump.
		t.Logf("memifinject lost its link to the crashing testpmd while it drained:\n%s", inj.output())
	} else {
		require.Zero(t, injCode, "memifinject's exit status\n%s", inj.output())
		requireInjectSummary(t, inj, sock0, n, totalBytes(want))
	}
	requireSameFrames(t, want, readFrames(t, out), "memifdump's capture through testpmd")
	requireTsharkCount(t, out, n)
	return false
}

// testpmdLog puts testpmd's output in the test log when
// MEMIFPCAP_TESTPMD_LOG is set, as the other interop tests do.
type testpmdLog struct{ t *testing.T }

func (w testpmdLog) Write(b []byte) (int, error) {
	if os.Getenv("MEMIFPCAP_TESTPMD_LOG") != "" {
		w.t.Logf("testpmd: %s", bytes.TrimRight(b, "\n"))
	}
	return len(b), nil
}
