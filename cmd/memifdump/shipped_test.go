package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// Every shipped capture crosses a memif link into memifdump and comes out
// the same, frame for frame and byte for byte, and tshark agrees.
func TestShippedCaptures(t *testing.T) {
	files, err := filepath.Glob("../../testdata/pcaps/*.pcap*")
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skip("no captures in testdata/pcaps yet")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in := readCaptureFile(t, file)
			var cfg memifpcap.Config
			mode := "ethernet"
			switch in.linkType {
			case layers.LinkTypeEthernet:
			case layers.LinkTypeRaw:
				cfg.Mode, mode = memifpcap.ModeIP, "ip"
			default:
				t.Skipf("link type %v has no memif mode", in.linkType)
			}
			var frames [][]byte
			for _, r := range in.records {
				frames = append(frames, r.data)
			}
			require.NotEmpty(t, frames)
			out := filepath.Join(t.TempDir(), "out.pcap")
			r, srv := dumpClientOf(t, cfg, "-mode", mode, "-w", out, "-c", fmt.Sprint(len(frames)))
			inject(t, srv, frames)
			require.Equal(t, 0, r.wait(t), r.stderr.String())
			c := readCaptureFile(t, out)
			require.Equal(t, in.linkType, c.linkType)
			requireFrames(t, frames, c)
			requireTsharkAgrees(t, out, c)
		})
	}
}
