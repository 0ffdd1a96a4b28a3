package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/capfile"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// frameRecord is one frame of a capture file, as a filter leaves it.
type frameRecord struct {
	data   string
	length int
}

// frameRecords reads every record of a capture file.
func frameRecords(t *testing.T, path string) []frameRecord {
	t.Helper()
	r, err := capfile.Open(path, nil)
	require.NoError(t, err)
	defer r.Close()
	var rs []frameRecord
	for {
		var p capfile.Packet
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return rs
		}
		require.NoError(t, err, path)
		rs = append(rs, frameRecord{string(p.Data), p.Length})
	}
}

// shippedInOne writes every frame of testdata/pcaps (all Ethernet) into
// one pcap, so that one tcpdump per expression sees them all.
func shippedInOne(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../../testdata/pcaps/*.pcap*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	path := filepath.Join(t.TempDir(), "shipped.pcap")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	bw := bufio.NewWriter(f)
	w := pcapgo.NewWriterNanos(bw)
	require.NoError(t, w.WriteFileHeader(262144, layers.LinkTypeEthernet))
	for _, name := range files {
		r, err := capfile.Open(name, nil)
		require.NoError(t, err)
		for {
			var p capfile.Packet
			err := r.Next(&p)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, name)
			require.Equal(t, uint32(1), p.LinkType, name)
			require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(p.Data), Length: p.Length}, p.Data))
		}
		r.Close()
	}
	require.NoError(t, bw.Flush())
	return path
}

// corpus is pcapfilter's expression corpus.
func corpus(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../pcapfilter/testdata/exprs.txt")
	require.NoError(t, err)
	var exprs []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			exprs = append(exprs, l)
		}
	}
	return exprs
}

// memifdump -r FILE -w OUT EXPR writes exactly the frames tcpdump -r FILE
// -w OUT EXPR writes, for every expression of pcapfilter's corpus over every
// frame of the shipped captures; an expression tcpdump refuses is refused.
func TestFilterExpressionsAsTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed (apt-get install tcpdump); CI has it")
	}
	t.Parallel()
	in := shippedInOne(t)
	all := frameRecords(t, in)
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "ours.pcap"), filepath.Join(dir, "theirs.pcap")
	exprs := corpus(t)
	require.GreaterOrEqual(t, len(exprs), 300)
	matched, refused := 0, 0
	for _, expr := range exprs {
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"-r", in, "-w", ours, "--", expr}, io.Discard, &stderr)
		out, err := exec.Command("tcpdump", "-r", in, "-w", theirs, "--", expr).CombinedOutput()
		if err != nil {
			require.NotEqual(t, 0, code, "tcpdump refuses %q (%s) but memifdump took it", expr, out)
			refused++
			continue
		}
		require.Equal(t, 0, code, "memifdump -r %q: %s", expr, stderr.String())
		want := frameRecords(t, theirs)
		require.Equal(t, want, frameRecords(t, ours), "expression %q", expr)
		if len(want) > 0 && len(want) < len(all) {
			matched++
		}
	}
	t.Logf("%d expressions over %d frames: the same frames as tcpdump; %d select some but not all, %d refused by both", len(exprs), len(all), matched, refused)
	require.Greater(t, matched, 100, "the corpus must tell frames apart")
}

// -d, -dd and -ddd print the program as tcpdump does, for the mode's link
// type or -r's file; without an expression, the accept-all program.
func TestPrintProgram(t *testing.T) {
	t.Parallel()
	dump := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := run(context.Background(), args, &o, &e)
		return code, o.String(), e.String()
	}
	code, out, _ := dump("-d")
	require.Equal(t, 0, code)
	require.Equal(t, "(000) ret      #262144\n", out)
	code, out, _ = dump("-ddd", "-s", "100", "ip")
	require.Equal(t, 0, code)
	require.Equal(t, "4\n40 0 0 12\n21 0 1 2048\n6 0 0 100\n6 0 0 0\n", out)
	code, out, _ = dump("-dd", "-mode", "ip", "ip")
	require.Equal(t, 0, code)
	require.Equal(t, "{ 0x30, 0, 0, 0x00000000 },\n{ 0x54, 0, 0, 0x000000f0 },\n{ 0x15, 0, 1, 0x00000040 },\n{ 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n", out)
	code, _, errOut := dump("-d", "-r", "../../testdata/pcaps/dns-udp.pcap", "ether", "proto")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `memifdump: filter "ether proto": pcapfilter: `)

	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Log("tcpdump is not installed: the formats are not compared with it")
		return
	}
	for _, flag := range []string{"-d", "-dd", "-ddd"} {
		for _, expr := range []string{"ip", "udp", "vlan 10", "len > 100"} {
			want, err := exec.Command("tcpdump", "-y", "EN10MB", flag, expr).Output()
			require.NoError(t, err)
			_, got, _ := dump(append([]string{flag}, strings.Fields(expr)...)...)
			require.Equal(t, string(want), got, "%s %s", flag, expr)
		}
	}
}

func TestFilterUsage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-bpf", "x.bpf", "udp"}, `memifdump: a filter expression ("udp") and -bpf x.bpf are two filters: give one`},
		{[]string{"-socket", "@x", "udp", "portx", "53"}, `memifdump: filter "udp portx 53": pcapfilter: syntax error at 'portx' (offset 4)`},
		{[]string{"-socket", "@x", "-mode", "ip", "ether", "host", "1:2:3:4:5:6"}, `memifdump: filter "ether host 1:2:3:4:5:6": pcapfilter: `},
	} {
		var e bytes.Buffer
		require.Equal(t, 2, run(context.Background(), c.args, io.Discard, &e), "%v", c.args)
		require.True(t, strings.HasPrefix(e.String(), c.want), "%v: %s", c.args, e.String())
	}
}

// A live capture's expression filters what is written; the pcapng names
// it (if_filter, comment) and, for a client, the peer it captured from.
func TestLiveFilterExpression(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.pcapng")
	r, srv := dumpClientOf(t, memifpcap.Config{IfName: "srv-if"}, "-w", out, "-c", "2", "udp")
	frames := [][]byte{tcpFrame(t, 1, 10), udpFrame(t, 0, 100), arpFrame(t), udpFrame(t, 4, 18)}
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	c := readCaptureFile(t, out)
	requireFrames(t, [][]byte{frames[1], frames[3]}, c)
	require.Equal(t, `filtered by the tcpdump expression "udp" (12 instructions)`, c.intf.Comment)
	require.True(t, strings.HasSuffix(c.intf.Description, `, peer "memifpcap" interface "srv-if"`), c.intf.Description)
}

// -v shows the handshake too, message by message.
func TestVerboseShowsControl(t *testing.T) {
	t.Parallel()
	r, srv := dumpClientOf(t, memifpcap.Config{IfName: "srv-if"}, "-v", "-c", "1", "-w", filepath.Join(t.TempDir(), "x.pcap"))
	inject(t, srv, [][]byte{udpFrame(t, 0, 100)})
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	require.Contains(t, r.stderr.String(), `memifdump: control: sent INIT version 2.0 id 0 mode ethernet name "memifpcap", no secret`+"\n")
	require.Contains(t, r.stderr.String(), `memifdump: control: received CONNECTED interface "srv-if"`+"\n")
}
