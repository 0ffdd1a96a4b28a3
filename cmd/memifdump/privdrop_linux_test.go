package main

import (
	"bytes"
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// -Z nobody, as root: memifdump (a process of its own) listens and opens
// its file as root, then every one of its threads is nobody, the capture
// goes on, and a file it must create later in a directory only root may
// write (the next -C file) is refused.
func TestDropPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("-Z needs root to drop from (CI runs as root): run the tests as root to test it")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	dir := t.TempDir() // 0700, root's
	sock, out := filepath.Join(dir, "memif.sock"), filepath.Join(dir, "out.pcap")
	frames := udpFrames(t, 4) // 60, 449, 838 and 9000 bytes: -C 1k rotates before the fourth

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := memifdumpCmd(ctx, "-role", "server", "-socket", sock, "-U", "-w", out, "-C", "1k", "-Z", "nobody")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("memifdump did not exit")
		}
	}()
	waitFor(t, "the start line", func() bool { return strings.Contains(stderr.String(), "listening on") })

	// Every thread is nobody, with nobody's groups only.
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "task", "*", "status"))
	require.NoError(t, err)
	require.NotEmpty(t, tasks)
	gids, err := nobody.GroupIds()
	require.NoError(t, err)
	for _, task := range tasks {
		status, err := os.ReadFile(task)
		require.NoError(t, err)
		ids := procIDs(string(status))
		require.Equal(t, strings.Repeat(nobody.Uid+" ", 4), ids["Uid"], task)
		require.Equal(t, strings.Repeat(nobody.Gid+" ", 4), ids["Gid"], task)
		require.Equal(t, strings.Join(gids, " ")+" ", ids["Groups"], task)
	}

	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.NoError(t, err)
	defer cli.Close()
	inject(t, cli, frames[:2])
	waitFor(t, "2 frames in the file", func() bool { return recordsIn(out) == 2 })
	requireFrames(t, frames[:2], readCaptureFile(t, out))
	// The fourth frame needs out.pcap1, in root's directory.
	inject(t, cli, frames[2:])
	select {
	case err := <-done:
		done <- err
		require.Error(t, err, "memifdump went on after its file could not be created")
		require.Contains(t, stderr.String(), "out.pcap1: permission denied")
	case <-ctx.Done():
		t.Fatalf("memifdump did not stop when it could not open its next file:\n%s", stderr.String())
	}
	_, err = os.Stat(out + "1")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// procIDs returns the Uid, Gid and Groups lines of /proc/PID/status, each
// number followed by one space.
func procIDs(status string) map[string]string {
	ids := map[string]string{}
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "Uid" || k == "Gid" || k == "Groups") {
			var b bytes.Buffer
			for _, f := range strings.Fields(v) {
				b.WriteString(f + " ")
			}
			ids[k] = b.String()
		}
	}
	return ids
}
