package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// mixedFrames are a few of every kind, jumbo chains among them.
func mixedFrames(t *testing.T) [][]byte {
	fs := udpFrames(t, 20)
	fs = append(fs, tcpFrame(t, 0, 0), tcpFrame(t, 1, 1400), icmpFrame(t, 1), arpFrame(t), udp6Frame(t, 1, 8000))
	return fs
}

func TestPcap(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	frames := mixedFrames(t)
	r, srv := dumpClient(t, "-w", out, "-c", fmt.Sprint(len(frames)))
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t), r.stderr.String())

	c := readCaptureFile(t, out)
	assert.False(t, c.ng)
	assert.False(t, c.nano, "microseconds unless -nano")
	assert.Equal(t, layers.LinkTypeEthernet, c.linkType)
	assert.Equal(t, uint32(262144), c.snapLen)
	requireFrames(t, frames, c)
	requireTsharkAgrees(t, out, c)

	n := len(frames)
	assert.Equal(t, fmt.Sprintf("%d packets captured\n%d packets received\n0 packets dropped\n", n, n),
		r.stderr.String()[strings.Index(r.stderr.String(), "\n")+1:])
}

// The start line is tcpdump's, with the memif socket, id and role.
func TestStartLine(t *testing.T) {
	sock := sockPath(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-role", "server", "-socket", sock},
			"listening on memif " + sock + " id 0 (server), link-type EN10MB (Ethernet), snapshot length 262144 bytes\n"},
		{[]string{"-role", "server", "-socket", sock, "-id", "7", "-s", "0"},
			"listening on memif " + sock + " id 7 (server), link-type EN10MB (Ethernet), snapshot length 262144 bytes\n"},
		{[]string{"-role", "server", "-socket", sock, "-id", "8", "-mode", "ip", "-s", "1500"},
			"listening on memif " + sock + " id 8 (server), link-type RAW (Raw IP), snapshot length 1500 bytes\n"},
		{[]string{"-role", "server", "-socket", sock, "-id", "9", "-mode", "punt-inject"},
			"listening on memif " + sock + " id 9 (server), link-type USER0 (memif punt/inject), snapshot length 262144 bytes\n"},
	} {
		r := startDump(t, tc.args...)
		require.Equal(t, 0, r.stop(t))
		assert.Equal(t, tc.want+"0 packets captured\n0 packets received\n0 packets dropped\n", r.stderr.String())
	}
	// As a client, against a server Handle.
	r, _ := dumpClient(t, "-id", "0")
	line, _, _ := strings.Cut(r.stderr.String(), "\n")
	assert.Regexp(t, `^listening on memif \S+/memif.sock id 0 \(client\), link-type EN10MB \(Ethernet\), snapshot length 262144 bytes$`, line)
	require.Equal(t, 0, r.stop(t))
}

func TestPcapng(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.pcapng")
	bpfFile := filepath.Join(dir, "udp.bpf")
	require.NoError(t, os.WriteFile(bpfFile, []byte(udpProgram), 0o644))
	// Five UDP frames among other frames, the last one UDP: -c 5 ends
	// right after it, so every frame was taken off the ring.
	frames := [][]byte{udpFrame(t, 0, 100), tcpFrame(t, 1, 10), arpFrame(t), udp6Frame(t, 2, 9000), icmpFrame(t, 3), udpFrame(t, 4, 18), tcpFrame(t, 5, 0), udpFrame(t, 6, 8958)}
	udp := [][]byte{frames[0], frames[3], frames[5], frames[7]}
	r, cli := dumpServer(t, "-w", out, "-bpf", bpfFile, "-c", "4", "-id", "0")
	inject(t, cli, frames)
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	assert.True(t, strings.HasSuffix(r.stderr.String(), "4 packets captured\n8 packets received\n0 packets dropped\n4 packets filtered\n"), r.stderr.String())

	c := readCaptureFile(t, out)
	require.True(t, c.ng)
	requireFrames(t, udp, c)
	sock := strings.Fields(r.stderr.String())[3] // listening on memif SOCKET
	assert.Equal(t, "memif "+sock+" id 0 queue 0", c.intf.Name)
	assert.Equal(t, "memif server, ethernet mode, socket "+sock+", interface id 0", c.intf.Description)
	assert.Equal(t, "filtered by the classic BPF program in "+bpfFile+" (12 instructions)", c.intf.Comment)
	assert.Equal(t, layers.LinkTypeEthernet, c.intf.LinkType)
	assert.Equal(t, uint32(262144), c.intf.SnapLength)
	require.Len(t, c.stats, 1, "one interface statistics block, at the end")
	st := c.stats[0]
	assert.Equal(t, uint64(8), st.PacketsReceived)
	assert.Equal(t, uint64(0), st.PacketsDropped)
	assert.False(t, st.StartTime.IsZero())
	assert.False(t, st.EndTime.Before(st.StartTime))
	assert.False(t, st.StartTime.After(c.records[0].ci.Timestamp))

	requireTsharkAgrees(t, out, c)
	fields, err := exec.Command("tshark", "-r", out, "-T", "fields", "-e", "frame.interface_name", "-e", "frame.interface_description").Output()
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat(c.intf.Name+"\t"+c.intf.Description+"\n", 4), string(fields))
}

// -F chooses the format whatever the name says.
func TestFormatFlag(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, format string
		ng           bool
	}{
		{"a.cap", "pcapng", true},
		{"b.pcapng", "pcap", false},
		{"c.pcapng", "", true},
		{"d.pcap", "", false},
	} {
		out := filepath.Join(dir, tc.name)
		args := []string{"-w", out, "-c", "2"}
		if tc.format != "" {
			args = append(args, "-F", tc.format)
		}
		r, srv := dumpClient(t, args...)
		frames := udpFrames(t, 2)
		inject(t, srv, frames)
		require.Equal(t, 0, r.wait(t))
		c := readCaptureFile(t, out)
		assert.Equal(t, tc.ng, c.ng, "%+v", tc)
		requireFrames(t, frames, c)
		requireTsharkAgrees(t, out, c)
	}
}

func TestNano(t *testing.T) {
	for _, flag := range []string{"-nano", "--nano"} {
		out := filepath.Join(t.TempDir(), "nano.pcap")
		frames := udpFrames(t, 10)
		r, srv := dumpClient(t, flag, "-w", out, "-c", "10")
		inject(t, srv, frames)
		require.Equal(t, 0, r.wait(t))
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Equal(t, uint32(0xa1b23c4d), binary.LittleEndian.Uint32(b), "nanosecond pcap magic")
		c := readCaptureFile(t, out)
		require.True(t, c.nano)
		requireFrames(t, frames, c)
		// Nanoseconds survive: some stamp is not a whole microsecond.
		whole := 0
		for _, rec := range c.records {
			if rec.ci.Timestamp.Nanosecond()%1000 == 0 {
				whole++
			}
		}
		assert.Less(t, whole, len(c.records), "every timestamp is a whole microsecond")
		// tshark prints the same nine digits.
		requireTsharkAgrees(t, out, c)
	}
}

func TestCount(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	frames := udpFrames(t, 20)
	r, cli := dumpServer(t, "-w", out, "-c", "5")
	inject(t, cli, frames[:5])
	// The rest may find the link already down: memifdump left after 5.
	for _, f := range frames[5:] {
		if cli.WritePacketData(f) != nil {
			break
		}
	}
	require.Equal(t, 0, r.wait(t), "-c exits by itself, successfully")
	requireFrames(t, frames[:5], readCaptureFile(t, out))
	assert.Equal(t, map[string]uint64{"captured": 5, "received": 5, "dropped": 0}, statLines(t, r.stderr.String()))
}

func TestSnapLen(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	frames := [][]byte{udpFrame(t, 0, 18), udpFrame(t, 1, 58), udpFrame(t, 2, 59), udpFrame(t, 3, 8958)} // 60, 100, 101, 9000 bytes
	r, srv := dumpClient(t, "-w", out, "-s", "100", "-c", "4")
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t))
	c := readCaptureFile(t, out)
	assert.Equal(t, uint32(100), c.snapLen)
	require.Len(t, c.records, 4)
	for i, rec := range c.records {
		n := min(len(frames[i]), 100)
		assert.Equal(t, frames[i][:n], rec.data, "frame %d", i)
		assert.Equal(t, n, rec.ci.CaptureLength, "frame %d", i)
		assert.Equal(t, len(frames[i]), rec.ci.Length, "frame %d", i)
	}
	assert.Less(t, c.records[3].ci.CaptureLength, c.records[3].ci.Length)
	ts := requireTsharkAgrees(t, out, c)
	assert.Equal(t, 9000, ts[3].Len)
	assert.Equal(t, 100, ts[3].CapLen)
}

// -U: every frame is in the file as soon as it is captured, while
// memifdump keeps running.
func TestUnbuffered(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	frames := udpFrames(t, 3)
	r, srv := dumpClient(t, "-U", "-w", out)
	waitFor(t, "the file header", func() bool { return recordsIn(out) == 0 })
	inject(t, srv, frames[:1])
	waitFor(t, "1 frame in the file", func() bool { return recordsIn(out) == 1 })
	inject(t, srv, frames[1:])
	waitFor(t, "3 frames in the file", func() bool { return recordsIn(out) == 3 })
	require.Equal(t, 0, r.stop(t))
	requireFrames(t, frames, readCaptureFile(t, out))
}

func TestStdout(t *testing.T) {
	frames := mixedFrames(t)
	r, srv := dumpClient(t, "-w", "-", "-c", fmt.Sprint(len(frames)))
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t))
	requireFrames(t, frames, readCapture(t, r.stdout.Bytes()))
}

func TestText(t *testing.T) {
	badIP := make([]byte, 60) // an all-zero IPv4 header
	copy(badIP, serialize(t, eth(layers.EthernetTypeIPv4)))
	frames := [][]byte{udpFrame(t, 0, 32), tcpFrame(t, 1, 10), tcpFrame(t, 0, 0), icmpFrame(t, 3), arpFrame(t), udp6Frame(t, 2, 20),
		serialize(t, eth(0x88b5), payload(0, 46)), badIP}
	// tcpdump -e's format: the link-level header, then the rest.
	const ab = "02:00:00:00:00:01 > 02:00:00:00:00:02, "
	want := []string{
		ab + "ethertype IPv4 (0x0800), length 74: 10.0.0.1.4000 > 10.0.0.2.4001: UDP, length 32",
		ab + "ethertype IPv4 (0x0800), length 64: 10.0.0.1.40000 > 10.0.0.2.80: Flags [P.], seq 1:11, ack 0, win 1000, length 10: HTTP",
		ab + "ethertype IPv4 (0x0800), length 60: 10.0.0.1.40000 > 10.0.0.2.80: Flags [S], seq 0, win 1000, length 0", // gopacket pads to 60
		ab + "ethertype IPv4 (0x0800), length 98: 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 3, length 64",
		"02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 60: Request who-has 10.0.0.2 tell 10.0.0.1, length 46",
		ab + "ethertype IPv6 (0x86dd), length 82: fd00::1.5000 > fd00::2.5001: UDP, length 20",
		ab + "ethertype Unknown (0x88b5), length 60: undecodable 46 bytes: Unable to decode EthernetType 34997",
		ab + "ethertype IPv4 (0x0800), length 60: bad-hlen 0",
	}
	for _, tc := range []struct {
		flag string
		time string
	}{{"-U", `\d\d:\d\d:\d\d\.\d{6}`}, {"-nano", `\d\d:\d\d:\d\d\.\d{9}`}} {
		r, srv := dumpClient(t, tc.flag, "-e", "-c", fmt.Sprint(len(frames)))
		inject(t, srv, frames)
		require.Equal(t, 0, r.wait(t))
		lines := strings.Split(strings.TrimSuffix(r.stdout.String(), "\n"), "\n")
		require.Len(t, lines, len(want), r.stdout.String())
		for i, line := range lines {
			assert.Regexp(t, "^"+tc.time+" "+regexp.QuoteMeta(want[i])+"$", line)
		}
	}
	// Without -e, as tcpdump: no link-level header (but where nothing
	// else could be decoded), -x's dump from the network header, -tt.
	r, srv := dumpClient(t, "-c", "2", "-x", "-tt")
	inject(t, srv, [][]byte{frames[0], frames[6]})
	require.Equal(t, 0, r.wait(t))
	assert.Regexp(t, `^\d+\.\d{6} IP 10\.0\.0\.1\.4000 > 10\.0\.0\.2\.4001: UDP, length 32
	0x0000:  4500 003c 0000 0000 4011 66af 0a00 0001
	0x0010:  0a00 0002 0fa0 0fa1 0028 [0-9a-f]{4} 0000 0000
	0x0020:  0405 0607 0809 0a0b 0c0d 0e0f 1011 1213
	0x0030:  1415 1617 1819 1a1b 1c1d 1e1f
\d+\.\d{6} `+regexp.QuoteMeta(ab+"ethertype Unknown (0x88b5), length 60: undecodable 46 bytes: Unable to decode EthernetType 34997")+`
	0x0000:  0000 0000 0405 0607 0809 0a0b 0c0d 0e0f
	0x0010:  1011 1213 1415 1617 1819 1a1b 1c1d 1e1f
	0x0020:  2021 2223 2425 2627 2829 2a2b 2c2d
$`, r.stdout.String())
	// A frame cut by -s prints what its first bytes tell.
	r, srv = dumpClient(t, "-s", "50", "-c", "1")
	inject(t, srv, frames[:1])
	require.Equal(t, 0, r.wait(t))
	assert.Regexp(t, `^\d\d:\d\d:\d\d\.\d{6} IP 10\.0\.0\.1\.4000 > 10\.0\.0\.2\.4001: UDP, length 32\n$`, r.stdout.String())
}

// A filter made by the real tcpdump keeps exactly the UDP frames (IPv4
// and IPv6, jumbo chains too); the counts say what was filtered.
func TestBPF(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "udp.bpf")
	require.NoError(t, os.WriteFile(prog, []byte(tcpdumpProgram(t, "udp", udpProgram)), 0o644))
	out := filepath.Join(dir, "out.pcap")
	frames := [][]byte{udpFrame(t, 0, 18), tcpFrame(t, 1, 100), icmpFrame(t, 2), arpFrame(t), udp6Frame(t, 3, 500),
		udpFrame(t, 4, 8958), tcpFrame(t, 5, 8000), icmpFrame(t, 6), udp6Frame(t, 7, 30)}
	udp := [][]byte{frames[0], frames[4], frames[5], frames[8]}
	r, srv := dumpClient(t, "-w", out, "-bpf", prog, "-c", "4")
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t))
	c := readCaptureFile(t, out)
	requireFrames(t, udp, c)
	requireTsharkAgrees(t, out, c)
	assert.Equal(t, map[string]uint64{"captured": 4, "received": 9, "dropped": 0, "filtered": 5}, statLines(t, r.stderr.String()))
}

// rotation simulates tcpdump's -C rule on pcap files: before a frame is
// written, if the file is already larger than limit, the next file starts.
func rotation(frames [][]byte, limit int) [][][]byte {
	files := [][][]byte{nil}
	size := 24
	for _, f := range frames {
		if size > limit {
			files = append(files, nil)
			size = 24
		}
		files[len(files)-1] = append(files[len(files)-1], f)
		size += 16 + len(f)
	}
	return files
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRotateSize(t *testing.T) {
	dir := t.TempDir()
	frames := udpFrames(t, 50)
	files := rotation(frames, 20<<10)
	require.GreaterOrEqual(t, len(files), 4, "the test wants a few files")
	require.Less(t, len(files), 10, "names sort as numbers below 10")
	names := []string{"cap.pcap"} // then cap.pcap1, cap.pcap2, ... (numbers sort as text below 10)
	for i := 1; i < len(files); i++ {
		names = append(names, fmt.Sprintf("cap.pcap%d", i))
	}
	r, srv := dumpClient(t, "-w", filepath.Join(dir, "cap.pcap"), "-C", "20k", "-c", "50")
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	assert.Equal(t, names, listDir(t, dir))
	total := 0
	for i, name := range names {
		path := filepath.Join(dir, name)
		c := readCaptureFile(t, path)
		requireFrames(t, files[i], c)
		total += len(requireTsharkAgrees(t, path, c))
	}
	assert.Equal(t, 50, total)
}

// -C with -W: a ring of files numbered from 0, the oldest overwritten.
func TestRotateRing(t *testing.T) {
	dir := t.TempDir()
	var frames [][]byte
	for i := 0; i < 40; i++ {
		frames = append(frames, udpFrame(t, i, 1000-42))
	}
	files := rotation(frames, 10<<10) // 11 frames a file: 0-10, 11-21, 22-32, 33-39
	require.Len(t, files, 4)
	r, srv := dumpClient(t, "-w", filepath.Join(dir, "ring"), "-C", "10k", "-W", "3", "-c", "40", "-nano")
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	assert.Equal(t, []string{"ring0", "ring1", "ring2"}, listDir(t, dir))
	for name, want := range map[string][][]byte{"ring0": files[3], "ring1": files[1], "ring2": files[2]} {
		path := filepath.Join(dir, name)
		c := readCaptureFile(t, path)
		requireFrames(t, want, c)
		requireTsharkAgrees(t, path, c)
	}
	assert.Equal(t, map[string]uint64{"captured": 40, "received": 40, "dropped": 0}, statLines(t, r.stderr.String()))
}

// -G with -W alone: a new file every interval, named by its time, and the
// capture stops after -W files, as tcpdump does.
func TestRotateTime(t *testing.T) {
	dir := t.TempDir()
	frames := udpFrames(t, 7)
	r, srv := dumpClient(t, "-w", filepath.Join(dir, "cap-%Y%m%d-%H%M%S.pcapng"), "-G", "1", "-W", "2")
	inject(t, srv, frames[:3])
	time.Sleep(1100 * time.Millisecond)
	inject(t, srv, frames[3:6])
	time.Sleep(1100 * time.Millisecond)
	inject(t, srv, frames[6:]) // starts a third interval: the limit
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	assert.Contains(t, r.stderr.String(), "memifdump: maximum file limit reached: 2\n")
	assert.Equal(t, map[string]uint64{"captured": 6, "received": 7, "dropped": 0}, statLines(t, r.stderr.String()))

	names := listDir(t, dir)
	require.Len(t, names, 2)
	for _, n := range names {
		assert.Regexp(t, `^cap-\d{8}-\d{6}\.pcapng$`, n)
	}
	for i, want := range [][][]byte{frames[:3], frames[3:6]} {
		path := filepath.Join(dir, names[i])
		c := readCaptureFile(t, path)
		require.True(t, c.ng)
		requireFrames(t, want, c)
		requireTsharkAgrees(t, path, c)
		stamp, err := time.ParseInLocation("20060102-150405", strings.TrimSuffix(strings.TrimPrefix(names[i], "cap-"), ".pcapng"), time.Local)
		require.NoError(t, err)
		// The name is the time the file was opened: at most the first frame's.
		assert.False(t, stamp.After(c.records[0].ci.Timestamp), "%s vs %v", names[i], c.records[0].ci.Timestamp)
		require.Len(t, c.stats, 1, "each pcapng file ends with its statistics")
	}
}

// A write error is an error: the status is 1 and the message names the
// file.
func TestWriteError(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	// Buffered: the error comes when the buffer is flushed at the end.
	r, srv := dumpClient(t, "-w", "/dev/full", "-c", "3")
	inject(t, srv, udpFrames(t, 3))
	require.Equal(t, 1, r.wait(t))
	assert.Contains(t, r.stderr.String(), "memifdump: write /dev/full: no space left on device\n")

	// Many frames: the error comes when the buffer fills, mid-capture,
	// and memifdump stops by itself.
	r, srv = dumpClient(t, "-w", "/dev/full", "-F", "pcapng")
	frames := udpFrames(t, 200)
send:
	for sent := 0; sent <= blockSize; { // over the output buffer
		for _, f := range frames {
			if srv.WritePacketData(f) != nil {
				break send
			}
			sent += len(f)
		}
	}
	require.Equal(t, 1, r.wait(t))
	assert.Contains(t, r.stderr.String(), "memifdump: write /dev/full: no space left on device\n")

	// -U: the file header fails at once, before capturing.
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-role", "server", "-socket", sockPath(t), "-U", "-w", "/dev/full"}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Equal(t, "memifdump: write /dev/full: no space left on device\n", stderr.String())

	// A file that cannot be created.
	stderr.Reset()
	missing := filepath.Join(t.TempDir(), "no", "such", "dir.pcap")
	code = run(t.Context(), []string{"-role", "server", "-socket", sockPath(t), "-w", missing}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Equal(t, "memifdump: open "+missing+": no such file or directory\n", stderr.String())
}

func TestNoServer(t *testing.T) {
	sock := sockPath(t)
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-socket", sock}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "memifdump: memif: connect "+sock+": no such file or directory (is the server running?)")
}

// The shared connection flags reach the Handle: a secret, a ring size and
// a buffer size that carries a jumbo frame in one descriptor.
func TestConnectionFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	frames := udpFrames(t, 10)
	r, srv := dumpClientOf(t, memifpcap.Config{Secret: "s3cret", ID: 4},
		"-id", "4", "-secret", "s3cret", "-ring-size", "64", "-buffer-size", "9216", "-w", out, "-c", "10")
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	requireFrames(t, frames, readCaptureFile(t, out))

	// A wrong secret is the server's refusal, with its reason: status 1.
	sock := sockPath(t)
	srv2, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, Secret: "s3cret"})
	require.NoError(t, err)
	defer srv2.Close()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"-socket", sock, "-secret", "wrong"}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "Incorrect secret")
}

func TestBadUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.bpf")
	require.NoError(t, os.WriteFile(bad, []byte("1\n6 0 0\n"), 0o644))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nosuch"}, "memifdump: flag provided but not defined: -nosuch\n"},
		{[]string{"-c", "x"}, `memifdump: invalid value "x" for flag -c: parse error` + "\n"},
		{[]string{"-c", "-1"}, "memifdump: -c -1: the count is negative\n"},
		{[]string{"-s", "-1"}, "memifdump: -s -1: the snapshot length must be from 1 to 262144 (0: 262144)\n"},
		{[]string{"-s", "262145"}, "memifdump: -s 262145: the snapshot length must be from 1 to 262144 (0: 262144)\n"},
		{[]string{"-w", "x", "-F", "pcapx"}, "memifdump: -F pcapx: unknown format (want pcap or pcapng)\n"},
		{[]string{"-w", "x", "-C", "0"}, `memifdump: -C: invalid file size "0": want a positive integer in millions of bytes, or with a k, m or g suffix` + "\n"},
		{[]string{"-w", "x", "-C", "1x"}, `memifdump: -C: invalid file size "1x": want a positive integer in millions of bytes, or with a k, m or g suffix` + "\n"},
		{[]string{"-w", "x", "-C", "1", "-W", "0"}, "memifdump: -W 0: the file count must be positive\n"},
		{[]string{"-w", "x", "-W", "3"}, "memifdump: -W needs -C or -G\n"},
		{[]string{"-w", "x", "-G", "-1"}, "memifdump: -G -1: the interval is negative\n"},
		{[]string{"-C", "1"}, "memifdump: -C needs -w FILE\n"},
		{[]string{"-G", "1"}, "memifdump: -G needs -w FILE\n"},
		{[]string{"-F", "pcap"}, "memifdump: -F needs -w FILE\n"},
		{[]string{"-w", "-", "-C", "1"}, "memifdump: -C and -G rotate files: they cannot write to standard output (-w -)\n"},
		{[]string{"-w", "x-%Q", "-G", "1"}, `memifdump: -w: "x-%Q": time field %Q is not supported (use %Y %m %d %H %M %S %y %j %s %F %T %%)` + "\n"},
		{[]string{"-bpf", filepath.Join(dir, "missing")}, "memifdump: -bpf: open " + filepath.Join(dir, "missing") + ": no such file or directory\n"},
		{[]string{"-bpf", bad}, "memifdump: -bpf " + bad + `: line 2: want four decimal numbers "code jt jf k", got "6 0 0"` + "\n"},
		{[]string{"-role", "boss"}, `memifdump: -role: memif: unknown role "boss" (want client or server)` + "\n"},
		{[]string{"-mode", "tap"}, `memifdump: -mode: memif: unknown mode "tap" (want ethernet, ip or punt-inject)` + "\n"},
		{[]string{"udp", "port", "x53"}, `memifdump: filter "udp port x53": pcapfilter: unknown port 'x53' (numbers only: no name resolution)` + "\n"},
		{[]string{"-r", "x.pcap", "-w", "y.pcap", "-G", "1"}, "memifdump: -C and -G rotate a live capture's files: -r -w writes one file\n"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tc.args, &stdout, &stderr)
		assert.Equal(t, 2, code, "%q", tc.args)
		assert.Equal(t, tc.want+"Run 'memifdump -h' for the flags.\n", stderr.String(), "%q", tc.args)
		assert.Empty(t, stdout.String())
	}

	var stdout, stderr bytes.Buffer
	assert.Equal(t, 0, run(t.Context(), []string{"-h"}, &stdout, &stderr))
	assert.True(t, strings.HasPrefix(stderr.String(), "Usage: memifdump [flags]\n"), stderr.String())
	for _, f := range []string{"-bpf file", "-w file", "-C size", "-G seconds", "-W n", "-socket socket", "-nano", "-U"} {
		assert.Contains(t, stderr.String(), "  "+f)
	}
	assert.Empty(t, stdout.String())
}

// The link goes down and comes back: memifdump says so and goes on.
func TestLinkDownAndBack(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.pcap")
	sock := sockPath(t)
	r := startDump(t, "-role", "server", "-socket", sock, "-w", out, "-U")
	frames := udpFrames(t, 6)
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.NoError(t, err)
	inject(t, cli, frames[:3])
	waitFor(t, "3 frames", func() bool { return recordsIn(out) == 3 })
	require.NoError(t, cli.Close())
	waitFor(t, "the link-down line", func() bool {
		return regexp.MustCompile(`(?m)^memifdump: link down: .+; waiting for the peer$`).MatchString(r.stderr.String())
	})

	cli, err = memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.NoError(t, err)
	defer cli.Close()
	waitFor(t, "the link-up line", func() bool { return strings.Contains(r.stderr.String(), "memifdump: link up again\n") })
	inject(t, cli, frames[3:])
	waitFor(t, "6 frames", func() bool { return recordsIn(out) == 6 })
	require.Equal(t, 0, r.stop(t))
	requireFrames(t, frames, readCaptureFile(t, out))
	assert.Equal(t, map[string]uint64{"captured": 6, "received": 6, "dropped": 0}, statLines(t, r.stderr.String()))
}

// As a client, memifdump rides out a server restart: the Handle
// reconnects by itself (every 2 s) and the capture goes on in the same file.
func TestServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 2 s reconnect")
	}
	out := filepath.Join(t.TempDir(), "out.pcap")
	frames := udpFrames(t, 4)
	r, srv := dumpClient(t, "-w", out, "-U")
	sock := strings.Fields(r.stderr.String())[3]
	inject(t, srv, frames[:2])
	waitFor(t, "2 frames", func() bool { return recordsIn(out) == 2 })
	require.NoError(t, srv.Close())
	waitFor(t, "the link-down line", func() bool {
		return strings.Contains(r.stderr.String(), "; waiting for the peer\n")
	})

	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv.Close()
	waitFor(t, "the link-up line", func() bool { return strings.Contains(r.stderr.String(), "memifdump: link up again\n") })
	inject(t, srv, frames[2:])
	waitFor(t, "4 frames", func() bool { return recordsIn(out) == 4 })
	require.Equal(t, 0, r.stop(t))
	requireFrames(t, frames, readCaptureFile(t, out))
}

// recordsIn counts the whole records of a pcap file being written, or -1.
func recordsIn(path string) int {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 24 {
		return -1
	}
	n, off := 0, 24
	for off+16 <= len(b) {
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
		n++
	}
	if off != len(b) {
		return -1
	}
	return n
}
