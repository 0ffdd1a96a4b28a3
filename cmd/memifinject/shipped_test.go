//go:build linux

package main

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// shippedDir holds the project's recorded captures (testdata/pcaps).
const shippedDir = "../../testdata/pcaps"

// TestShippedCaptures replays every recorded capture into a memif peer:
// the peer gets the frames that pcapgo reads from the file, byte for byte
// and in order; and our reader agrees with tshark on every captured length.
func TestShippedCaptures(t *testing.T) {
	t.Parallel()
	testCaptures(t, shippedCaptures(t))
}

// shippedCaptures lists the recorded captures; it skips the test if there
// are none.
func shippedCaptures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(shippedDir, "*.pcap*"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skipf("no captures in %s yet", shippedDir)
	}
	return files
}

func testCaptures(t *testing.T, files []string) {
	var all []record
	for _, file := range files {
		want := readPcapgo(t, file)
		require.NotEmpty(t, want, file)
		all = append(all, want...)
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			mine, _, err := readAll(t, file)
			require.NoError(t, err)
			requireSameRecords(t, want, mine)
			if _, err := exec.LookPath("tshark"); err == nil {
				out, err := exec.Command("tshark", "-r", file, "-T", "fields", "-e", "frame.cap_len").Output()
				require.NoError(t, err)
				lens := strings.Fields(string(out))
				require.Len(t, lens, len(mine), "tshark's packet count")
				for i, l := range lens {
					require.Equal(t, strconv.Itoa(len(mine[i].data)), l, "packet %d", i+1)
				}
			}
			p := newPeer(t, memifpcap.Config{})
			r := injectTo(t, p, "-topspeed", file)
			requireOK(t, r)
			got, _ := p.received(t)
			requireFrames(t, want, got)
			require.Equal(t, uint64(len(want)), parseSummary(t, r.stdout).packets)
		})
	}
	// All of them in one run, preloaded, twice over.
	p := newPeer(t, memifpcap.Config{})
	r := injectTo(t, p, append([]string{"-topspeed", "-preload", "-loop", "2"}, files...)...)
	requireOK(t, r)
	got, _ := p.received(t)
	requireFrames(t, append(all, all...), got)
}
