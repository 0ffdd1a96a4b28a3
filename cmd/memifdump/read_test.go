package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadFile(t *testing.T) {
	for _, tc := range []struct {
		file  string
		lines int
		first string
	}{
		{"dns-udp.pcap", 16, "IP 10.77.0.1.59434 > 10.77.0.2.53: 21338+ [1au] A? alpha.mpc.test. (43)"},
		{"vlan-8021q.pcap", 24, "ARP, Request who-has 10.77.100.2 tell 10.77.100.1, length 28"},
		{"mixed.pcapng", 38, "ARP, Request who-has 10.77.0.2 tell 10.77.0.1, length 28"},
		{"icmp-ping-nano.pcap", 12, "ARP, Request"},
	} {
		var out, errb bytes.Buffer
		rc := run(context.Background(), []string{"-r", filepath.Join("..", "..", "testdata", "pcaps", tc.file)}, &out, &errb)
		if rc != 0 {
			t.Fatalf("%s: exit %d: %s", tc.file, rc, errb.String())
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != tc.lines {
			t.Errorf("%s: %d lines, want %d", tc.file, len(lines), tc.lines)
		}
		if !strings.Contains(lines[0], tc.first) {
			t.Errorf("%s: first line %q, want it to contain %q", tc.file, lines[0], tc.first)
		}
	}

	var out, errb bytes.Buffer
	if rc := run(context.Background(), []string{"-r", "read_test.go"}, &out, &errb); rc != 1 {
		t.Errorf("-r of a Go file: exit %d, want 1", rc)
	}
	if !strings.Contains(errb.String(), "read_test.go: not a pcap or pcapng file") {
		t.Errorf("error %q does not say the file is not a capture", errb.String())
	}
	if rc := run(context.Background(), []string{"-r", "x.pcap", "-w", "y.pcap", "-C", "1"}, &out, &errb); rc != 2 {
		t.Errorf("-r with -w -C: exit %d, want 2", rc)
	}
	out.Reset()
	if rc := run(context.Background(), []string{"-r", filepath.Join("..", "..", "testdata", "pcaps", "http-tcp.pcap"), "-c", "5"}, &out, &errb); rc != 0 || strings.Count(out.String(), "\n") != 5 {
		t.Errorf("-r -c 5: exit %d, %d lines", rc, strings.Count(out.String(), "\n"))
	}
}

// Hand-built capture files, little-endian, for what no writer produces.

func pcapHeader(snap, lt uint32) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b2c3d4)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint32(b, snap)
	return le.AppendUint32(b, lt)
}

// pcapRecord claims caplen and length, then holds data.
func pcapRecord(b []byte, sec, caplen, length uint32, data []byte) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, sec)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, caplen)
	b = le.AppendUint32(b, length)
	return append(b, data...)
}

// ngBlock appends a block with total length length (0: the right one).
func ngBlock(b []byte, typ uint32, body []byte, length uint32) []byte {
	le := binary.LittleEndian
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	if length == 0 {
		length = uint32(12 + len(body))
	}
	b = le.AppendUint32(b, typ)
	b = le.AppendUint32(b, length)
	b = append(b, body...)
	return le.AppendUint32(b, length)
}

func ngSection(b []byte, lt uint16) []byte {
	le := binary.LittleEndian
	shb := le.AppendUint32(nil, 0x1a2b3c4d)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	b = ngBlock(b, 0x0a0d0d0a, shb, 0)
	idb := le.AppendUint16(nil, lt)
	idb = append(idb, 0, 0, 0, 0, 0, 0) // reserved, snap length 0
	return ngBlock(b, 1, idb, 0)
}

func ngEPB(b []byte, caplen, length uint32, data []byte) []byte {
	le := binary.LittleEndian
	body := le.AppendUint32(nil, 0)
	body = le.AppendUint64(body, 0)
	body = le.AppendUint32(body, caplen)
	body = le.AppendUint32(body, length)
	return ngBlock(b, 6, append(body, data...), 0)
}

func ngSPB(b []byte, length uint32, data []byte) []byte {
	return ngBlock(b, 3, append(binary.LittleEndian.AppendUint32(nil, length), data...), 0)
}

// readArgs runs memifdump -r on the bytes b, written to a file.
func readBytes(t *testing.T, b []byte, args ...string) (rc int, stdout, stderr string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.cap")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	var out, errb bytes.Buffer
	rc = run(context.Background(), append([]string{"-r", path}, args...), &out, &errb)
	return rc, out.String(), strings.ReplaceAll(errb.String(), path, "test.cap")
}

// Issue 10, item 4: every bad file is a named error with exit status 1,
// after the lines of the packets read before it.
func TestReadBadFiles(t *testing.T) {
	ok := udpFrame(t, 1, 32)
	n := uint32(len(ok))
	var ng35 []byte
	ng35 = ngSection(ng35, 1)
	for range 40 {
		ng35 = ngEPB(ng35, n, n, ok)
	}
	cut := ng35[:len(ng35)-350]
	epbSize := len(ngEPB(nil, n, n, ok))
	lines := (len(cut) - len(ngSection(nil, 1))) / epbSize
	for _, c := range []struct {
		name  string
		file  []byte
		lines int
		err   string
	}{
		{"pcapng cut short", cut, lines, fmt.Sprintf("memifdump: test.cap: pcapng block at byte %d (after packet %d): truncated block", len(ngSection(nil, 1))+lines*epbSize, lines)},
		{"epb claiming 4 GiB", ngEPB(ngSection(nil, 1), 0xffffffff, 0xffffffff, make([]byte, 64)), 0,
			"memifdump: test.cap: packet 1: pcapng block at byte 48: captured length 4294967295 does not fit its 96-byte block"},
		{"epb claiming 4 GiB in 92 bytes", ngEPB(ngSection(nil, 1), 0xffffffff, 0xffffffff, make([]byte, 60)), 0,
			"memifdump: test.cap: packet 1: pcapng block at byte 48: captured length 4294967295 does not fit its 92-byte block"},
		{"spb claiming 300 MiB", ngSPB(ngSection(nil, 1), 300<<20, ok), 0,
			"memifdump: test.cap: packet 1: pcapng block at byte 48: simple packet block of"},
		{"block length not a multiple of 4", ngBlock(ngEPB(ngSection(nil, 1), n, n, ok), 6, make([]byte, 32), 46), 1,
			"block type 0x6 has an impossible total length 46"},
		{"pcap second record 300 MiB", pcapRecord(pcapRecord(pcapHeader(262144, 1), 1, n, n, ok), 2, 300<<20, 300<<20, ok), 1,
			"memifdump: test.cap: packet 2: truncated record: it holds 314572800 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc, out, errs := readBytes(t, c.file)
			require.Equal(t, 1, rc, "exit status; stderr %q", errs)
			require.Equal(t, c.lines, strings.Count(out, "\n"), "lines printed before the error: %q", out)
			require.Contains(t, errs, c.err)
			if c.lines > 0 {
				require.Contains(t, out, "UDP")
			}
		})
	}
}

func TestReadLinkTypes(t *testing.T) {
	ok := udpFrame(t, 1, 32)
	n := uint32(len(ok))
	// LINKTYPE 257 is not Ethernet (gopacket's 8-bit LinkType would say 1).
	rc, out, errs := readBytes(t, pcapRecord(pcapHeader(262144, 257), 1, n, n, ok))
	require.Equal(t, 0, rc, errs)
	require.Contains(t, out, "link type 257, not decoded")
	require.NotContains(t, out, "IP ")
	// FCS bits in the link-type field: Ethernet, with a 2-byte FCS (one
	// 16-bit word) after the frame.
	withFCS := append(bytes.Clone(ok), 0xde, 0xad)
	rc, out, errs = readBytes(t, pcapRecord(pcapHeader(262144, 0x14000001), 1, n+2, n+2, withFCS), "-e")
	require.Equal(t, 0, rc, errs)
	require.Contains(t, out, "ethertype IPv4 (0x0800), length 76: 10.0.0.1.4000 > 10.0.0.2.4001: UDP, length 32")
	// Snap length 0, and a record longer than the snap length.
	for _, snap := range []uint32{0, 20} {
		rc, out, errs = readBytes(t, pcapRecord(pcapHeader(snap, 1), 1, n, n, ok))
		require.Equal(t, 0, rc, "snap length %d: %s", snap, errs)
		require.Contains(t, out, "UDP", "snap length %d", snap)
	}
	// Two pcapng sections, the second of raw IP: both printed, each as
	// its own link type.
	b := ngEPB(ngSection(nil, 1), n, n, ok)
	b = ngEPB(ngSection(b, 101), n-14, n-14, ok[14:])
	rc, out, errs = readBytes(t, b, "-e")
	require.Equal(t, 0, rc, errs)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], "ethertype IPv4")
	require.NotContains(t, lines[1], "ethertype")
	require.Contains(t, lines[1], "ip: 10.0.0.1.4000 > 10.0.0.2.4001: UDP, length 32")
}

// -r - reads standard input.
func TestReadStdin(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pcaps", "dns-udp.pcap"))
	require.NoError(t, err)
	old := stdin
	stdin = bytes.NewReader(b)
	defer func() { stdin = old }()
	var out, errb bytes.Buffer
	rc := run(context.Background(), []string{"-r", "-"}, &out, &errb)
	require.Equal(t, 0, rc, errb.String())
	require.Equal(t, 16, strings.Count(out.String(), "\n"))
	// Cut short on standard input: the lines, then the error.
	stdin = bytes.NewReader(b[:len(b)-10])
	out.Reset()
	errb.Reset()
	rc = run(context.Background(), []string{"-r", "-"}, &out, &errb)
	require.Equal(t, 1, rc)
	require.Equal(t, 15, strings.Count(out.String(), "\n"))
	require.Contains(t, errb.String(), "memifdump: -: packet 16: truncated record")
}

// -r with -bpf prints what the program accepts, cut to the length it
// returns (tcpdump's snap length semantics).
func TestReadBPF(t *testing.T) {
	dir := t.TempDir()
	frames := [][]byte{udpFrame(t, 1, 100), tcpFrame(t, 2, 100), arpFrame(t), udpFrame(t, 3, 100)}
	var b []byte
	b = pcapHeader(262144, 1)
	for i, f := range frames {
		b = pcapRecord(b, uint32(i), uint32(len(f)), uint32(len(f)), f)
	}
	path := filepath.Join(dir, "mixed.pcap")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	prog := filepath.Join(dir, "udp.bpf")
	require.NoError(t, os.WriteFile(prog, []byte(tcpdumpProgram(t, "udp", udpProgram)), 0o644))
	var out, errb bytes.Buffer
	rc := run(context.Background(), []string{"-r", path, "-bpf", prog}, &out, &errb)
	require.Equal(t, 0, rc, errb.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 2, out.String())
	for _, l := range lines {
		require.Contains(t, l, "UDP")
		require.NotContains(t, l, "captured")
	}
	// A program returning 42: accepted, captured 42 bytes of each.
	require.NoError(t, os.WriteFile(prog, []byte("1\n6 0 0 42\n"), 0o644))
	out.Reset()
	rc = run(context.Background(), []string{"-r", path, "-bpf", prog, "-xx"}, &out, &errb)
	require.Equal(t, 0, rc, errb.String())
	// -xx dumps what was kept: 42 bytes, the last line of ten.
	require.Equal(t, 4, strings.Count(out.String(), "\n\t0x0020:  "), out.String())
	require.Equal(t, 0, strings.Count(out.String(), "\n\t0x0030:  "), out.String())
	// -c counts what the filter kept.
	require.NoError(t, os.WriteFile(prog, []byte(tcpdumpProgram(t, "udp", udpProgram)), 0o644))
	out.Reset()
	rc = run(context.Background(), []string{"-r", path, "-bpf", prog, "-c", "1"}, &out, &errb)
	require.Equal(t, 0, rc, errb.String())
	require.Equal(t, 1, strings.Count(out.String(), "\n"))
}
