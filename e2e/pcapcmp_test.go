package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// TestPcapcmp checks the comparison demo.sh prints and relies on for its
// exit status: identical files, a pcap against the same frames in pcapng,
// one flipped byte, a missing frame, a different original length, and a
// file that is not a capture.
func TestPcapcmp(t *testing.T) {
	src := capture(t, "http-tcp.pcap")
	want := readFrames(t, src)
	n := len(want)
	dir := t.TempDir()

	flipped := make([]frame, n)
	copy(flipped, want)
	flipped[16].data = append([]byte(nil), want[16].data...)
	flipped[16].data[40] ^= 0x01
	flippedErr := fmt.Sprintf("frame 17: 66 bytes, want 66, first difference at byte 40 (%#02x, want %#02x)",
		flipped[16].data[40], want[16].data[40])
	longer := make([]frame, n)
	copy(longer, want)
	longer[n-1].wire++

	cases := []struct {
		name   string
		got    string
		code   int
		stdout string
		stderr string // a substring; "" for none at all
	}{
		{"same file", src, 0, "185 of 185 frames identical to " + src + "\n", ""},
		{"as pcapng", writeCapture(t, dir, "same.pcapng", want), 0, "185 of 185 frames identical to " + src + "\n", ""},
		{"flipped byte", writeCapture(t, dir, "flipped.pcap", flipped), 1, "184 of 185 frames identical to " + src + "\n", flippedErr},
		{"one frame short", writeCapture(t, dir, "short.pcap", want[:n-1]), 1, "184 of 185 frames identical to " + src + "\n",
			"184 frames, want 185"},
		{"original length", writeCapture(t, dir, "longer.pcap", longer), 1, "184 of 185 frames identical to " + src + "\n",
			"frame 185: original length 67, want 66"},
		{"not a capture", writeFile(t, dir, "text.pcap", "hello, world\n"), 2, "", "text.pcap: not a pcap or pcapng file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, "pcapcmp", pcapcmp, src, c.got)
			code := p.wait(t, 10*time.Second)
			require.Equal(t, c.code, code, "exit status\n%s", p.output())
			require.Equal(t, c.stdout, p.stdout.String())
			if c.stderr == "" {
				require.Empty(t, p.stderr.String())
			} else {
				require.Contains(t, p.stderr.String(), c.stderr)
			}
		})
	}
	// The expectations above rely on these.
	require.Equal(t, 185, n)
	require.Len(t, want[16].data, 66)
	require.Equal(t, 66, want[n-1].wire)
}

// writeCapture writes frames to dir/name: pcapng if the name ends in
// .pcapng, else microsecond pcap.
func writeCapture(t *testing.T, dir, name string, frames []frame) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	ts := time.Unix(1700000000, 0)
	ci := func(i int, fr frame) gopacket.CaptureInfo {
		return gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr.data), Length: fr.wire}
	}
	if filepath.Ext(name) == ".pcapng" {
		w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
		require.NoError(t, err)
		for i, fr := range frames {
			require.NoError(t, w.WritePacket(ci(i, fr), fr.data))
		}
		require.NoError(t, w.Flush())
	} else {
		w := pcapgo.NewWriter(f)
		require.NoError(t, w.WriteFileHeader(262144, layers.LinkTypeEthernet))
		for i, fr := range frames {
			require.NoError(t, w.WritePacket(ci(i, fr), fr.data))
		}
	}
	require.NoError(t, f.Close())
	return path
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}
