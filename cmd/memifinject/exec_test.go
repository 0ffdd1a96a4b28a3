//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// TestBinary builds memifinject and runs it as a process: SIGINT and
// SIGTERM stop an endless replay cleanly (summary, exit status 0), and the
// exit statuses of bad usage (2) and bad input (1) are the process's.
func TestBinary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "memifinject")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	dir := t.TempDir()
	rs := records(0, 100)
	file := filepath.Join(dir, "a.pcap")
	writePcap(t, file, false, layers.LinkTypeEthernet, rs)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := newPeer(t, memifpcap.Config{})
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "-socket", p.sock, "-pps", "2000", "-loop", "0", file)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			require.Eventually(t, func() bool {
				p.mu.Lock()
				defer p.mu.Unlock()
				return len(p.frames) >= 150
			}, 10*time.Second, 5*time.Millisecond)
			require.NoError(t, cmd.Process.Signal(sig))
			require.NoError(t, cmd.Wait(), "stderr: %s", stderr.String())
			require.Empty(t, stderr.String())
			got, _ := p.received(t)
			s := parseSummary(t, stdout.String())
			requireTook(t, s, len(got))
			var want []record
			for len(want) < len(got) {
				want = append(want, rs...)
			}
			requireFrames(t, want[:len(got)], got)
		})
	}

	status := func(err error) int {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	}
	out, err = exec.Command(bin, "-pps", "1", "-topspeed", file).CombinedOutput()
	require.Equal(t, 2, status(err), "%s", out)
	require.True(t, strings.HasPrefix(string(out), "memifinject: -pps and -topspeed are mutually exclusive"), "%s", out)

	notCapture := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notCapture, []byte("hello, world\n"), 0o644))
	out, err = exec.Command(bin, "-socket", filepath.Join(dir, "none.sock"), file, notCapture).CombinedOutput()
	require.Equal(t, 1, status(err), "%s", out)
	require.Equal(t, "memifinject: "+notCapture+": not a pcap or pcapng file: starts with 68 65 6c 6c\n", string(out))

	out, err = exec.Command(bin, "-h").CombinedOutput()
	require.Equal(t, 0, status(err), "%s", out)
	require.True(t, strings.HasPrefix(string(out), "usage: memifinject [flags] FILE...\n"))
}
