package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/memifflag"
)

// TestMemifdumpProcess is not a test: started by memifdumpCmd with
// MEMIFDUMP_PROCESS=1, the test binary is memifdump, with the arguments
// after "--", in a process of its own (its own time zone, its own user).
func TestMemifdumpProcess(t *testing.T) {
	if os.Getenv("MEMIFDUMP_PROCESS") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	ctx, release := memifflag.Signals()
	code := run(ctx, args, os.Stdout, os.Stderr)
	release()
	os.Exit(code)
}

// memifdumpCmd is memifdump with args as a process; ctx bounds it.
func memifdumpCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestMemifdumpProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "MEMIFDUMP_PROCESS=1")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// needTcpdump skips without tcpdump, unless the run must be complete
// (MEMIFPCAP_REQUIRE_TESTPMD=1, as CI sets it).
func needTcpdump(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("MEMIFPCAP_REQUIRE_TESTPMD") == "1" {
			t.Fatal("tcpdump not found and MEMIFPCAP_REQUIRE_TESTPMD=1: the comparison with tcpdump must run")
		}
		t.Skip("tcpdump is not installed (apt-get install tcpdump); CI has it")
	}
}

// outputs runs tcpdump -r file -nn -S and memifdump -r file with the same
// flags and returns what each printed. memifdump runs in this process
// (a process each would take minutes under -race), so both print in the
// local time zone of the test's environment; TestTimeZoneLikeTcpdump
// runs both in another zone.
func outputs(t *testing.T, file string, flags []string) (tcpdump, memifdump string) {
	t.Helper()
	tout := runTcpdump(t, nil, file, flags)
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"-r", file}, flags...), &out, &errb)
	require.Equal(t, 0, code, "memifdump -r %s %s: %s", file, strings.Join(flags, " "), errb.String())
	return tout, out.String()
}

// runTcpdump is tcpdump -r file -nn -S flags, with env added to the
// test's environment.
func runTcpdump(t *testing.T, env []string, file string, flags []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-r", file, "-nn", "-S"}
	for _, f := range flags {
		if f == "-nano" {
			f = "--nano"
		}
		args = append(args, f)
	}
	cmd := exec.CommandContext(ctx, "tcpdump", args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tcpdump %s: %s", strings.Join(args, " "), stderr.String())
	return string(out)
}

// Local time is the zone's, as tcpdump's: both run as processes in UTC
// and in a zone half an hour off the hour.
func TestTimeZoneLikeTcpdump(t *testing.T) {
	needTcpdump(t)
	file := "../../testdata/pcaps/icmp-ping-nano.pcap"
	for _, tz := range []string{"UTC", "Asia/Kolkata"} {
		if _, err := time.LoadLocation(tz); err != nil {
			t.Logf("no zone %s here: %v", tz, err)
			continue
		}
		for _, flags := range [][]string{{}, {"-tttt"}, {"-tttt", "-nano"}} {
			want := runTcpdump(t, []string{"TZ=" + tz}, file, flags)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := memifdumpCmd(ctx, append([]string{"-r", file}, flags...)...)
			cmd.Env = append(cmd.Env, "TZ="+tz)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			got, err := cmd.Output()
			cancel()
			require.NoError(t, err, "memifdump: %s", stderr.String())
			requireSameLines(t, want, string(got), "TZ=%s memifdump %s", tz, strings.Join(flags, " "))
		}
	}
}

// The shipped captures print byte for byte as tcpdump -nn -S prints them,
// with every flag both have: the dumps, the time stamps, the packet
// numbers, the link-level header, and the lines themselves.
func TestLikeTcpdump(t *testing.T) {
	needTcpdump(t)
	files, err := filepath.Glob("../../testdata/pcaps/*.pcap*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	flagSets := [][]string{
		{}, {"-x"}, {"-xx"}, {"-X"}, {"-XX"}, {"-A"},
		{"-t"}, {"-tt"}, {"-ttt"}, {"-tttt"}, {"-ttttt"},
		{"-nano"}, {"-tt", "-nano"}, {"-ttt", "-nano"}, {"-tttt", "-nano"}, {"-ttttt", "-nano"},
		{"-#"}, {"-e"}, {"-q"}, {"-e", "-x"}, {"-#eXXtttt"}, {"-nnqA"},
	}
	lines := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			for _, flags := range flagSets {
				want, got := outputs(t, file, flags)
				require.NotEmpty(t, want)
				requireSameLines(t, want, got, "memifdump -r %s %s", filepath.Base(file), strings.Join(flags, " "))
				lines += strings.Count(want, "\n")
			}
		})
	}
	t.Logf("%d lines of tcpdump's output matched byte for byte", lines)
}

// requireSameLines fails at the first line that differs, showing it.
func requireSameLines(t *testing.T, want, got string, format string, args ...any) {
	t.Helper()
	if want == got {
		return
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(w), len(g)) {
		require.Equal(t, w[i], g[i], append([]any{"line %d of " + format}, append([]any{i + 1}, args...)...)...)
	}
	require.Equal(t, len(w), len(g), append([]any{"line count of " + format}, args...)...)
}

// -v is tcpdump's for what memifdump prints of it: the IPv4 header's line,
// the IPv6 header's parenthesis, ARP's address formats. (tcpdump -v also
// checks checksums and decodes options, which memifdump does not.)
func TestVerboseLikeTcpdump(t *testing.T) {
	needTcpdump(t)
	files, err := filepath.Glob("../../testdata/pcaps/*.pcap*")
	require.NoError(t, err)
	n := 0
	for _, file := range files {
		want, got := outputs(t, file, []string{"-v", "-t"})
		w, g := verboseParts(want), verboseParts(got)
		require.NotEmpty(t, w)
		require.Equal(t, w, g, filepath.Base(file))
		n += len(w)
	}
	t.Logf("%d -v headers matched", n)
}

// verboseParts are the parts of -v -t lines that memifdump prints as
// tcpdump does.
func verboseParts(out string) []string {
	var parts []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "IP ("), strings.HasPrefix(line, "ARP, "):
			parts = append(parts, line)
		case strings.HasPrefix(line, "IP6 ("):
			parts = append(parts, line[:strings.Index(line, ") ")+2])
		}
	}
	return parts
}

// Dumps and lines of what the shipped captures lack: odd lengths, every
// byte value, carriage returns where -A drops them and where it shows
// them, a frame cut in its UDP header, a frame that is only an Ethernet
// header, and raw IP (no link-level header).
func TestDumpsLikeTcpdump(t *testing.T) {
	needTcpdump(t)
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	payloads := [][]byte{
		nil, {'x'}, []byte("ab"), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte("a\rb\r\rc\r"), []byte("\r"),
		[]byte("x\r\n"), []byte("tab\there\nnewline \x7f\x80\xff end\r"), all, all[:17], all[:33],
	}
	ethFile, rawFile := pcapHeader(262144, 1), pcapHeader(262144, 101)
	for i, p := range payloads {
		ip := ip4(layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 4000, DstPort: 4001}
		udp.SetNetworkLayerForChecksum(ip)
		f := serialize(t, eth(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(p))
		ethFile = pcapRecord(ethFile, uint32(i), uint32(len(f)), uint32(len(f)), f)
		rawFile = pcapRecord(rawFile, uint32(i), uint32(len(f)-14), uint32(len(f)-14), f[14:])
	}
	// ICMP errors quoting a UDP datagram: port, host, net, protocol
	// unreachable, time exceeded in transit and in reassembly.
	qip, qudp := ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 4000, DstPort: 53}
	qudp.SetNetworkLayerForChecksum(qip)
	quoted := serialize(t, qip, qudp)
	for i, tc := range [][2]uint8{{3, 3}, {3, 1}, {3, 0}, {3, 2}, {11, 0}, {11, 1}} {
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(tc[0], tc[1])}
		f := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), icmp, gopacket.Payload(quoted))
		ethFile = pcapRecord(ethFile, uint32(30+i), uint32(len(f)), uint32(len(f)), f)
	}
	// A frame cut in its UDP header, and one no longer than its Ethernet
	// header.
	f := udpFrame(t, 1, 100)
	ethFile = pcapRecord(ethFile, 20, 40, uint32(len(f)), f[:40])
	ethFile = pcapRecord(ethFile, 21, 14, 14, f[:14])
	dir := t.TempDir()
	for name, b := range map[string][]byte{"eth.pcap": ethFile, "raw.pcap": rawFile} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		for _, flags := range [][]string{{"-x"}, {"-xx"}, {"-X"}, {"-XX"}, {"-A"}, {"-e", "-t"}} {
			want, got := outputs(t, path, flags)
			requireSameLines(t, want, got, "%s %s", name, strings.Join(flags, " "))
		}
	}
}

// Frames cut by a snapshot length end as tcpdump ends them ("IP  [|ip]",
// "src > dst:  [|udp]", TCP options as far as they go, "[|icmp6]"...):
// every shipped pcap cut at lengths from the middle of the IP header to
// the middle of the payload. DNS messages cut after their header are not
// compared: tcpdump prints what it can of the questions and answers,
// memifdump the header and " [|domain]".
func TestCutLikeTcpdump(t *testing.T) {
	needTcpdump(t)
	files, err := filepath.Glob("../../testdata/pcaps/*.pcap")
	require.NoError(t, err)
	dir := t.TempDir()
	compared, skipped := 0, 0
	for _, file := range files {
		in := readCaptureFile(t, file)
		for _, snap := range []int{20, 34, 38, 42, 54, 60, 66, 70, 74, 80, 100} {
			var buf bytes.Buffer
			w := pcapgo.NewWriter(&buf)
			require.NoError(t, w.WriteFileHeader(262144, in.linkType))
			for _, r := range in.records {
				ci := r.ci
				data := r.data[:min(snap, len(r.data))]
				ci.CaptureLength = len(data)
				require.NoError(t, w.WritePacket(ci, data))
			}
			path := filepath.Join(dir, fmt.Sprintf("%d-%s", snap, filepath.Base(file)))
			require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
			want, got := outputs(t, path, nil)
			w1, g1 := strings.Split(want, "\n"), strings.Split(got, "\n")
			require.Equal(t, len(w1), len(g1), path)
			for i := range w1 {
				if strings.Contains(w1[i], ".53 > ") || strings.Contains(w1[i], ".53: ") {
					skipped++
					continue
				}
				require.Equal(t, w1[i], g1[i], "%s line %d", filepath.Base(path), i+1)
				compared++
			}
		}
	}
	t.Logf("%d lines of cut frames matched tcpdump's byte for byte (%d DNS lines not compared)", compared, skipped)
}

// The flags print the same in a live capture: the frames of a shipped
// capture sent over memif print as tcpdump prints the file (-t: the
// capture's own time stamps are not the file's).
func TestLiveLikeTcpdump(t *testing.T) {
	needTcpdump(t)
	file := "../../testdata/pcaps/vlan-8021q.pcap"
	in := readCaptureFile(t, file)
	var frames [][]byte
	for _, r := range in.records {
		frames = append(frames, r.data)
	}
	flags := []string{"-t", "-#eXX"}
	want := runTcpdump(t, nil, file, flags)
	r, srv := dumpClient(t, append(flags, "-c", fmt.Sprint(len(frames)))...)
	inject(t, srv, frames)
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	requireSameLines(t, want, r.stdout.String(), "live memifdump %s", strings.Join(flags, " "))
}
