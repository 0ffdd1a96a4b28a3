package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

// TestSignalWhileWriting: a signal that lands while a reader holds a batch
// it read (between ReadBatch and the batch's write, held there
// deterministically by testHoldBatch) closes the Handle only once the batch
// is written. Close hands the batch's slots back to the peer, which may
// rewrite them at once; memifdump writing them after it would write bytes
// that are no longer the frames read. So the link stays up while the batch
// is held, and the file holds every frame read, each byte exact.
func TestSignalWhileWriting(t *testing.T) {
	// Not parallel: testHoldBatch is the package's. This cleanup runs after
	// startDump's, which waits for the capture to end.
	var seen atomic.Int64
	var arm atomic.Bool
	held, release := make(chan int, 1), make(chan struct{})
	testHoldBatch = func(n int) {
		if arm.CompareAndSwap(true, false) {
			held <- n
			<-release
		}
		seen.Add(int64(n))
	}
	t.Cleanup(func() { testHoldBatch = nil })
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }

	file := filepath.Join(t.TempDir(), "out.pcap")
	r, cli := dumpServer(t, "-w", file)
	// Before dumpServer's cleanups, which wait for the capture to end.
	t.Cleanup(letGo)

	frames := udpFrames(t, 12) // frames 3 and 10 are chains
	const before = 5
	inject(t, cli, frames[:before])
	waitFor(t, "the first frames read", func() bool { return seen.Load() == before })
	arm.Store(true)
	ms := make([]memifpcap.Message, len(frames)-before)
	for i := range ms {
		ms[i].Buffers = [][]byte{frames[before+i]}
	}
	n, err := cli.TxQueue(0).WriteBatch(ms)
	require.NoError(t, err)
	require.Equal(t, len(ms), n)
	select {
	case k := <-held:
		require.Equal(t, len(ms), k, "the frames written in one batch are read in one")
	case <-time.After(10 * time.Second):
		t.Fatal("memifdump did not read the batch in 10 s")
	}

	r.cancel() // SIGINT
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		require.True(t, cli.LinkUp(), "memifdump closed the link while writing frames it read from it")
	}
	letGo()
	require.Equal(t, 0, r.wait(t), r.stderr.String())
	requireFrames(t, frames, readCaptureFile(t, file))
	st := statLines(t, r.stderr.String())
	assert.Equal(t, uint64(len(frames)), st["captured"], r.stderr.String())
	assert.Equal(t, uint64(len(frames)), st["received"], r.stderr.String())
}
