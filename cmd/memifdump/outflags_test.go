package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpandShortFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("w", "", "")
	fs.Bool("nano", false, "")
	fs.Int("c", 0, "")
	registerOutputFlags(fs)
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-nn"}, []string{"-n", "-n"}},
		{[]string{"-nnvvXX", "-tttt"}, []string{"-n", "-n", "-v", "-v", "-X", "-X", "-t", "-t", "-t", "-t"}},
		{[]string{"-#eXXtttt"}, []string{"-#", "-e", "-X", "-X", "-t", "-t", "-t", "-t"}},
		{[]string{"-#", "-e"}, []string{"-#", "-e"}},
		{[]string{"-nano", "-tt"}, []string{"-nano", "-t", "-t"}},         // a flag's own name is kept
		{[]string{"-w", "-nn", "-xx"}, []string{"-w", "-nn", "-x", "-x"}}, // a value is a value
		{[]string{"-w=-nn", "-xx"}, []string{"-w=-nn", "-x", "-x"}},
		{[]string{"-c", "5", "-ee"}, []string{"-c", "5", "-e", "-e"}},
		{[]string{"-nz"}, []string{"-nz"}}, // not all known: the flag package refuses it
		{[]string{"-c5"}, []string{"-c5"}},
		{[]string{"-Z", "nobody"}, []string{"-Z", "nobody"}},
		{[]string{"--nn"}, []string{"--nn"}},
		{[]string{"-nn", "--", "-vv"}, []string{"-n", "-n", "--", "-vv"}},
		{[]string{"-nn", "udp", "-vv"}, []string{"-n", "-n", "udp", "-vv"}}, // flags end at the first argument
		{[]string{"-"}, []string{"-"}},
	} {
		assert.Equal(t, tc.want, expandShortFlags(fs, tc.in), "%q", tc.in)
	}
}

func TestOutputFlags(t *testing.T) {
	o, err := parseFlags([]string{"-nnvvv", "-XX", "-tttt", "-#", "-e", "-q", "-l", "-A", "-xx", "-S", "-nano"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, textFormat{nano: true, stamp: tsDate, number: true, link: true, quiet: true, verbose: 3, hex: 2, hexASCII: 2, ascii: 1}, o.text)
	require.True(t, o.flushEach, "-l")
	o, err = parseFlags([]string{"--list-interfaces"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.list)
	o, err = parseFlags([]string{"-number"}, io.Discard)
	require.NoError(t, err)
	require.True(t, o.text.number)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-tttttt"}, "memifdump: -tttttt: at most five t's (-ttttt: time since the first packet)\n"},
		{[]string{"-Z", "no-such-user-here"}, "memifdump: -Z no-such-user-here: user: unknown user no-such-user-here\n"},
		{[]string{"-nz"}, "memifdump: flag provided but not defined: -nz\n"},
		{[]string{"-Z"}, "memifdump: flag needs an argument: -Z\n"},
	} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 2, run(context.Background(), tc.args, &stdout, &stderr), "%q", tc.args)
		require.Equal(t, tc.want+"Run 'memifdump -h' for the flags.\n", stderr.String(), "%q", tc.args)
		require.Empty(t, stdout.String())
	}
}

// The dumps, the time stamps, the numbers and -e's header are written
// into the reused line: they add no allocation to a frame's.
func TestTextFlagsDoNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	frame := udpFrame(t, 1, 1000)
	ci := gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(frame), Length: len(frame)}
	allocs := func(f textFormat) float64 {
		s := newTextSink(io.Discard, layers.LinkTypeEthernet, f, false)
		var err error
		n := testing.AllocsPerRun(200, func() {
			if e := s.writePacket(ci, frame); e != nil {
				err = e
			}
		})
		require.NoError(t, err)
		return n
	}
	base := allocs(textFormat{})
	// Before tcpdump's format (fmt and net.IP's String) this line took 17.
	t.Logf("%.0f allocations per line (gopacket's decoding)", base)
	require.LessOrEqual(t, base, 17.0)
	for _, f := range []textFormat{
		{hexASCII: 2, stamp: tsDate, number: true, link: true},
		{hex: 1, stamp: tsDelta, nano: true},
		{ascii: 1, stamp: tsEpoch},
		{hexASCII: 1, stamp: tsSinceFirst},
	} {
		require.Equal(t, base, allocs(f), "%+v", f)
	}
	var b []byte
	require.Zero(t, testing.AllocsPerRun(100, func() {
		b = appendHexASCII(b[:0], frame)
		b = appendHex(b, frame)
		b = appendASCII(b, frame)
	}))
}
