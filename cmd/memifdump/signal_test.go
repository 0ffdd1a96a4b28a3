package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// The built binary, run as a memif server: SIGINT or SIGTERM stops it with
// status 0 and a complete file, although nothing of it was on disk before
// the signal (the frames sat in the write buffer). SIGUSR1 prints the
// counts meanwhile, which is how the test knows every frame was captured.
func TestSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "memifdump")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			sock, file := filepath.Join(dir, "memif.sock"), filepath.Join(dir, "out.pcap")
			cmd := exec.Command(bin, "-role", "server", "-socket", sock, "-w", file)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			exited := false
			defer func() {
				if !exited {
					cmd.Process.Kill()
					cmd.Wait()
				}
			}()
			waitFor(t, "the start line", func() bool { return strings.Contains(stderr.String(), "listening on") })

			cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
			require.NoError(t, err)
			defer cli.Close()
			// Frames below referMin, which are copied into the buffer
			// (larger ones are written with their batch).
			var frames [][]byte
			for i := range 20 {
				frames = append(frames, udpFrame(t, i, 18+i*20))
			}
			require.Less(t, len(frames[19]), referMin)
			total := 0
			for _, f := range frames {
				total += 16 + len(f)
			}
			require.Less(t, total, outputBuffer, "the frames must fit the write buffer")
			inject(t, cli, frames)
			waitFor(t, "20 frames captured", func() bool {
				require.NoError(t, cmd.Process.Signal(syscall.SIGUSR1))
				time.Sleep(20 * time.Millisecond)
				return strings.Contains(stderr.String(), "20 packets captured\n")
			})
			fi, err := os.Stat(file)
			require.NoError(t, err)
			assert.Zero(t, fi.Size(), "nothing is written before the buffer fills or the capture ends")

			require.NoError(t, cmd.Process.Signal(sig))
			err = cmd.Wait()
			exited = true
			require.NoError(t, err, "exit status: %s", stderr.String())
			c := readCaptureFile(t, file)
			requireFrames(t, frames, c)
			requireTsharkAgrees(t, file, c)
			assert.True(t, strings.HasSuffix(stderr.String(), "\n20 packets captured\n20 packets received\n0 packets dropped\n"), stderr.String())
		})
	}
}
