package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	for _, tc := range []struct {
		file  string
		lines int
		first string
	}{
		{"dns-udp.pcap", 16, "IPv4 10.77.0.1 > 10.77.0.2, UDP 59434 > 53, DNS query id 21338 A? alpha.mpc.test"},
		{"vlan-8021q.pcap", 24, "802.1Q vlan 100, ARP request who-has 10.77.100.2 tell 10.77.100.1"},
		{"mixed.pcapng", 38, "ARP request who-has 10.77.0.2 tell 10.77.0.1"},
		{"icmp-ping-nano.pcap", 12, "ARP request"},
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
	if rc := run(context.Background(), []string{"-r", "x.pcap", "-w", "y.pcap"}, &out, &errb); rc != 2 {
		t.Errorf("-r with -w: exit %d, want 2", rc)
	}
	errb.Reset()
	if rc := run(context.Background(), []string{"-r", "x.pcap", "-bpf", "udp.bpf"}, &out, &errb); rc != 2 || !strings.Contains(errb.String(), "cannot be combined with -bpf") {
		t.Errorf("-r with -bpf: exit %d, %q; want 2 and a refusal", rc, errb.String())
	}
	out.Reset()
	if rc := run(context.Background(), []string{"-r", filepath.Join("..", "..", "testdata", "pcaps", "http-tcp.pcap"), "-c", "5"}, &out, &errb); rc != 0 || strings.Count(out.String(), "\n") != 5 {
		t.Errorf("-r -c 5: exit %d, %d lines", rc, strings.Count(out.String(), "\n"))
	}
}
