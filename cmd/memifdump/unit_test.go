package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
)

func TestParseFileSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1":   1000000,
		"250": 250000000,
		"20k": 20 << 10,
		"20K": 20 << 10,
		"3m":  3 << 20,
		"3M":  3 << 20,
		"2g":  2 << 30,
		"2G":  2 << 30,
	} {
		got, err := parseFileSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "0", "-1", "0k", "1.5", "10kk", "k", "10b", " 1", "9223372036854775807k", "9300000000000"} {
		_, err := parseFileSize(in)
		assert.Error(t, err, "%q", in)
	}
}

func TestRingDigits(t *testing.T) {
	for n, want := range map[int]int{1: 0, 2: 1, 3: 1, 10: 1, 11: 2, 100: 2, 101: 3} {
		assert.Equal(t, want, ringDigits(n), "-W %d", n)
	}
}

// The names tcpdump's MakeFilename gives.
func TestFileName(t *testing.T) {
	at := time.Date(2024, 7, 14, 12, 1, 17, 0, time.UTC)
	for _, tc := range []struct {
		pattern  string
		timed    bool
		n, width int
		want     string
	}{
		{"cap.pcap", false, 0, 0, "cap.pcap"},    // the first file of -C
		{"cap.pcap", false, 1, 0, "cap.pcap1"},   // then file1, file2, ...
		{"cap.pcap", false, 12, 0, "cap.pcap12"}, //
		{"cap.pcap", false, 0, 1, "cap.pcap0"},   // -C with -W 3: cap.pcap0..2
		{"cap.pcap", false, 2, 1, "cap.pcap2"},   //
		{"cap", false, 0, 2, "cap00"},            // -W 11: two digits
		{"cap", false, 10, 2, "cap10"},           //
		{"cap-%Y%m%d-%H%M%S.pcap", true, 0, 0, "cap-20240714-120117.pcap"},
		{"cap-%Y%m%d-%H%M%S.pcap", false, 0, 0, "cap-%Y%m%d-%H%M%S.pcap"}, // no -G: literal
		{"%F_%T_%y_%j_%s_%%", true, 0, 0, "2024-07-14_12:01:17_24_196_1720958477_%"},
		{"cap-%H%M%S-", true, 3, 1, "cap-120117-3"}, // -G with -C and -W
	} {
		assert.Equal(t, tc.want, fileName(tc.pattern, tc.timed, at, tc.n, tc.width), "%+v", tc)
	}
}

func TestCheckTimeFormat(t *testing.T) {
	has, err := checkTimeFormat("cap-%Y%m%d.pcap")
	require.NoError(t, err)
	assert.True(t, has)
	has, err = checkTimeFormat("cap-100%%.pcap")
	require.NoError(t, err)
	assert.False(t, has)
	_, err = checkTimeFormat("cap-%Q.pcap")
	assert.EqualError(t, err, `"cap-%Q.pcap": time field %Q is not supported (use %Y %m %d %H %M %S %y %j %s %F %T %%)`)
	_, err = checkTimeFormat("cap-%")
	assert.EqualError(t, err, `"cap-%" ends with a lone %`)
}

// tcpdump 4.99.3's `tcpdump -ddd udp` (Ethernet): IPv4 UDP, IPv6 UDP, and
// IPv6 UDP behind a fragment header.
const udpProgram = "12\n40 0 0 12\n21 0 2 2048\n48 0 0 23\n21 6 7 17\n21 0 6 34525\n48 0 0 20\n21 3 0 17\n21 0 3 44\n48 0 0 54\n21 0 1 17\n6 0 0 262144\n6 0 0 0\n"

// tcpdumpProgram compiles expr with the real tcpdump when there is one.
func tcpdumpProgram(t *testing.T, expr, fallback string) string {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Logf("tcpdump is not installed; using the recorded tcpdump -ddd %s", expr)
		return fallback
	}
	out, err := exec.Command("tcpdump", "-ddd", "-y", "EN10MB", expr).Output()
	require.NoError(t, err, "tcpdump -ddd %s", expr)
	return string(out)
}

func TestParseBPF(t *testing.T) {
	prog, err := parseBPF(udpProgram)
	require.NoError(t, err)
	require.Len(t, prog, 12)
	assert.Equal(t, bpf.RawInstruction{Op: 40, Jt: 0, Jf: 0, K: 12}, prog[0])
	assert.Equal(t, bpf.RawInstruction{Op: 21, Jt: 6, Jf: 7, K: 17}, prog[3])
	assert.Equal(t, bpf.RawInstruction{Op: 6, K: 262144}, prog[10])

	// The real tcpdump's output parses too, for a longer program.
	_, err = parseBPF(tcpdumpProgram(t, "udp port 53 or (vlan and tcp)", udpProgram))
	require.NoError(t, err)

	// No trailing newline, CRLF and extra spaces are fine.
	_, err = parseBPF("1\r\n6  0 0   65535")
	require.NoError(t, err)

	for text, want := range map[string]string{
		"":                          `empty: want tcpdump -ddd output (a count line, then "code jt jf k" lines)`,
		"\n":                        `empty: want tcpdump -ddd output (a count line, then "code jt jf k" lines)`,
		"udp\n":                     `line 1: want the instruction count, got "udp"`,
		"0\n":                       `line 1: instruction count 0 is not between 1 and 4096`,
		"4097\n":                    `line 1: instruction count 4097 is not between 1 and 4096`,
		"2\n6 0 0 0\n":              `line 1: says 2 instructions, but 1 lines follow`,
		"1\n6 0 0 0\n\n":            `line 1: says 1 instructions, but 2 lines follow`,
		"1\n6 0 0\n":                `line 2: want four decimal numbers "code jt jf k", got "6 0 0"`,
		"1\n6 0 0 0 0\n":            `line 2: want four decimal numbers "code jt jf k", got "6 0 0 0 0"`,
		"1\n{ 0x6, 0, 0, 0 },\n":    `line 2: want four decimal numbers "code jt jf k", got "{ 0x6, 0, 0, 0 },"`,
		"1\n65536 0 0 0\n":          `line 2: code "65536" is not a decimal number from 0 to 65535`,
		"1\n6 256 0 0\n":            `line 2: jt "256" is not a decimal number from 0 to 255`,
		"1\n6 0 -1 0\n":             `line 2: jf "-1" is not a decimal number from 0 to 255`,
		"1\n6 0 0 4294967296\n":     `line 2: k "4294967296" is not a decimal number from 0 to 4294967295`,
		"1\n6 0 0 0x10\n":           `line 2: k "0x10" is not a decimal number from 0 to 4294967295`,
		"2\n40 0 0 12\n255 0 0 0\n": `line 3: 255 0 0 0 is not a classic BPF instruction`,
		"2\n21 1 0 2048\n6 0 0 0\n": `line 2: jump of 1 goes past the end of the program`,
		"2\n5 0 0 1\n6 0 0 0\n":     `line 2: jump of 1 goes past the end of the program`,
		"2\n52 0 0 0\n6 0 0 0\n":    `line 2: division by the constant 0`,
		// ld vlan_avail: what tcpdump -ddd 'vlan' compiles on a live Linux socket.
		"2\n32 0 0 4294963248\n6 0 0 0\n": `line 2: Linux BPF extension 48 (such as vlan_avail or ifindex) cannot run outside the kernel`,
		"1\n40 0 0 12\n":                  `line 2: the last instruction must be a return`,
	} {
		_, err := parseBPF(text)
		assert.EqualError(t, err, want, "%q", text)
	}
}

func TestParseBPFFromFile(t *testing.T) {
	// The same file memifdump reads, with the error naming it.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.bpf")
	require.NoError(t, os.WriteFile(bad, []byte("2\n40 0 0 12\n"), 0o644))
	var stderr strings.Builder
	_, err := parseFlags([]string{"-bpf", bad}, &stderr)
	require.EqualError(t, err, "-bpf "+bad+": line 1: says 2 instructions, but 1 lines follow")
}
