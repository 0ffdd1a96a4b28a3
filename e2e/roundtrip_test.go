package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRoundTrip replays every shipped capture with memifinject -topspeed
// into memifdump -c N (the memif server) over a live memif link with the
// default 2048-byte buffers, so that jumbo frames cross as descriptor
// chains. Both exit 0 by themselves, and the pcap file memifdump wrote holds
// the capture's frames, byte for byte, in order; tshark reads it too.
func TestRoundTrip(t *testing.T) {
	for _, c := range captures(t) {
		t.Run(filepath.Base(c), func(t *testing.T) {
			out, want := roundTrip(t, c, "server", "out.pcap")
			if filepath.Base(c) == "http-tcp.pcap" || filepath.Base(c) == "jumbo-9000.pcap" {
				requireTsharkCount(t, out, len(want))
			}
		})
	}
}

// TestRoundTripSwapped is TestRoundTrip with the roles swapped, memifdump
// the client and memifinject the server, writing pcapng: the frames
// travel server to client (S2C), into buffers the receiver posted.
func TestRoundTripSwapped(t *testing.T) {
	for _, name := range []string{"jumbo-9000.pcap", "http-tcp.pcap", "mixed.pcapng", "icmp-ping-nano.pcap", "ip-fragments.pcap"} {
		t.Run(name, func(t *testing.T) {
			out, want := roundTrip(t, capture(t, name), "client", "out.pcapng")
			requireTsharkCount(t, out, len(want))
		})
	}
}

// roundTrip replays capture with memifinject into memifdump, memifdump in
// role dumpRole and memifinject in the other one, and checks that
// memifdump's file (named out in a new directory) holds exactly the
// capture's frames. It returns that file and the frames.
func roundTrip(t *testing.T, capture, dumpRole, out string) (string, []frame) {
	t.Helper()
	want := readFrames(t, capture)
	require.NotEmpty(t, want, capture)
	n := len(want)
	dir := t.TempDir()
	sock := filepath.Join(dir, "memif.sock")
	outPath := filepath.Join(dir, out)
	injectRole := map[string]string{"server": "client", "client": "server"}[dumpRole]

	dumpArgs := []string{"-role", dumpRole, "-socket", sock, "-w", outPath, "-c", strconv.Itoa(n)}
	injArgs := []string{"-role", injectRole, "-socket", sock, "-topspeed", "-wait", "10s", capture}
	var dump, inj *proc
	if dumpRole == "server" {
		dump = start(t, "memifdump", memifdump, dumpArgs...)
		// The start line comes once the server listens.
		dump.waitStderr(t, startLine(sock, dumpRole), startTimeout)
		inj = start(t, "memifinject", memifinject, injArgs...)
		inj.requireExit0(t, runTimeout)
		dump.requireExit0(t, runTimeout)
	} else {
		inj = start(t, "memifinject", memifinject, injArgs...)
		waitListening(t, sock, inj)
		dump = start(t, "memifdump", memifdump, dumpArgs...)
		dump.requireExit0(t, runTimeout)
		inj.requireExit0(t, runTimeout)
	}
	requireDumpCounts(t, dump, n)
	requireInjectSummary(t, inj, sock, n, totalBytes(want))

	got := readFrames(t, outPath)
	requireSameFrames(t, want, got, fmt.Sprintf("%s written by memifdump (%s)", out, dumpRole))
	return outPath, want
}

// startLine is memifdump's first line on stderr, as tcpdump's.
func startLine(sock, role string) string {
	return fmt.Sprintf("listening on memif %s id 0 (%s), link-type EN10MB (Ethernet), snapshot length 262144 bytes", sock, role)
}

// requireDumpCounts checks memifdump's closing counts: n frames captured
// and received, none dropped, none filtered.
func requireDumpCounts(t *testing.T, dump *proc, n int) {
	t.Helper()
	stderr := dump.stderr.String()
	for _, l := range []string{
		fmt.Sprintf("%d packets captured", n),
		fmt.Sprintf("%d packets received", n),
		"0 packets dropped",
	} {
		require.True(t, hasLine(stderr, l), "memifdump's stderr has no line %q\n%s", l, dump.output())
	}
	require.NotContains(t, stderr, "packets filtered", "memifdump filtered without -bpf")
}

// requireInjectSummary checks memifinject's tcpreplay summary: n packets of
// bytes bytes sent, all successful.
func requireInjectSummary(t *testing.T, inj *proc, sock string, n, bytes int) {
	t.Helper()
	stdout := inj.stdout.String()
	for _, re := range []string{
		fmt.Sprintf(`(?m)^Actual: %d packets \(%d bytes\) sent in [0-9.]+ seconds$`, n, bytes),
		`(?m)^Rated: [0-9.]+ Bps, [0-9.]+ Mbps, [0-9.]+ pps$`,
		fmt.Sprintf(`(?m)^Statistics for network device: memif %s id 0$`, regexp.QuoteMeta(sock)),
		fmt.Sprintf(`(?m)^\s+Successful packets:\s+%d$`, n),
		`(?m)^\s+Failed packets:\s+0$`,
		`(?m)^\s+Truncated packets:\s+0$`,
		`(?m)^\s+Retried packets \(ring full\):\s+\d+$`,
	} {
		require.Regexp(t, re, stdout, "memifinject's summary\n%s", inj.output())
	}
	require.Empty(t, inj.stderr.String(), "memifinject's stderr")
}
