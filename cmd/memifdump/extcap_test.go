//go:build linux

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

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/capfile"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// extcap runs memifdump's extcap side in this process.
func extcap(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runExtcap(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// What Wireshark asks before a capture: the interfaces, their link types,
// their options, and whether a capture filter compiles.
func TestExtcapQueries(t *testing.T) {
	t.Parallel()
	require.True(t, isExtcap([]string{"--extcap-interfaces", "--extcap-version=4.0"}))
	require.True(t, isExtcap([]string{"--capture", "--extcap-interface", "memif", "--fifo", "x"}))
	require.False(t, isExtcap([]string{"-socket", "@x", "-w", "capture.pcap"}))

	code, out, _ := extcap("--extcap-interfaces", "--extcap-version=4.0")
	require.Equal(t, 0, code)
	require.Equal(t, "extcap {version=devel}{help=https://github.com/memifpcap/memifpcap}\n"+
		"interface {value=memif}{display=memif: shared memory packet interface (DPDK, VPP, libmemif)}\n", out)

	code, out, _ = extcap("--extcap-interface", "memif", "--extcap-dlts")
	require.Equal(t, 0, code)
	require.Equal(t, "dlt {number=1}{name=EN10MB}{display=Ethernet (ip mode captures RAW, punt-inject USER0)}\n", out)

	code, out, _ = extcap("--extcap-interface", "memif", "--extcap-config")
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 13)
	require.Equal(t, "arg {number=0}{call=--socket}{display=Socket}{type=string}{tooltip=memif control socket: a path, or @name (abstract:name) for an abstract socket; DPDK's default is @/run/memif.sock}{default=/run/vpp/memif.sock}{required=true}", lines[0])
	require.Equal(t, "value {arg=2}{value=client}{display=client}{default=true}", lines[3])
	require.Equal(t, "arg {number=7}{call=--wait}{display=Wait for the peer}{type=string}{tooltip=how long to wait for the peer: a duration such as 10s, 0 for one try, or forever}{default=10s}", lines[12])

	code, out, _ = extcap("--extcap-interface", "memif", "--extcap-capture-filter", "udp and port 53")
	require.Equal(t, 0, code)
	require.Empty(t, out)
	code, out, _ = extcap("--extcap-interface", "memif", "--extcap-capture-filter", "udp portx 53")
	require.Equal(t, 1, code)
	require.Equal(t, "pcapfilter: syntax error at 'portx' (offset 4)\n", out)

	code, out, _ = extcap("--extcap-version")
	require.Equal(t, 0, code)
	require.Equal(t, "memifdump devel\n", out)

	code, _, errOut := extcap("--extcap-interface", "eth0", "--extcap-dlts")
	require.Equal(t, 2, code)
	require.Equal(t, "memifdump: extcap: no interface \"eth0\" (memifdump offers \"memif\")\n", errOut)
}

// tshark lists memifdump as an interface once it is in the personal
// extcap folder, and captures from it with the options of its dialog:
// exactly the frames a client sent.
func TestExtcapWithTshark(t *testing.T) {
	t.Parallel()
	needTshark(t)
	bin := dumpBinary(t)
	home := t.TempDir()
	// Wireshark 4.0 (Debian 12) looks in ~/.config/wireshark/extcap, 4.2
	// and later in ~/.local/lib/wireshark/extcap.
	for _, dir := range []string{".config/wireshark/extcap", ".local/lib/wireshark/extcap"} {
		require.NoError(t, os.MkdirAll(filepath.Join(home, dir), 0o755))
		require.NoError(t, os.Symlink(bin, filepath.Join(home, dir, "memifdump")))
	}
	env := append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	list := exec.CommandContext(ctx, "tshark", "-D")
	list.Env = env
	out, err := list.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), ". memif (memif: shared memory packet interface (DPDK, VPP, libmemif))\n")

	// The capture dialog's options, and its capture filter (tshark -f):
	// only the frames of 100 bytes or more are captured.
	frames := udpFrames(t, 40)
	var want [][]byte
	for _, f := range frames {
		if len(f) >= 100 {
			want = append(want, f)
		}
	}
	require.Greater(t, len(want), 10)
	require.Less(t, len(want), len(frames))
	sock, file := filepath.Join(home, "memif.sock"), filepath.Join(home, "out.pcapng")
	capture := exec.CommandContext(ctx, "tshark", "-i", "memif", "-c", strconv.Itoa(len(want)), "-w", file, "-f", "udp and greater 100",
		"-o", "extcap.memif.socket:"+sock, "-o", "extcap.memif.role:server", "-o", "extcap.memif.id:7")
	capture.Env = env
	var tout syncBuffer
	capture.Stdout, capture.Stderr = &tout, &tout
	require.NoError(t, capture.Start())
	done := make(chan error, 1)
	go func() { done <- capture.Wait() }()

	cli, err := memifpcap.OpenContext(ctx, &memifpcap.Config{Socket: sock, ID: 7, ConnectWait: 60 * time.Second})
	require.NoError(t, err, "tshark: %s", tout.String())
	defer cli.Close()
	for _, f := range frames {
		require.NoError(t, cli.WritePacketData(f))
	}
	select {
	case err := <-done:
		require.NoError(t, err, "tshark: %s", tout.String())
	case <-ctx.Done():
		t.Fatalf("tshark still runs after %d frames: %s", len(want), tout.String())
	}
	r, err := capfile.Open(file, nil)
	require.NoError(t, err)
	defer r.Close()
	for i, w := range want {
		var p capfile.Packet
		require.NoError(t, r.Next(&p), "frame %d", i)
		require.Equal(t, w, p.Data, "frame %d", i)
	}
}
