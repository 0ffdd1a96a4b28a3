package memifpcap_test

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/internal/testpmd"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// Soak: frames carry a sequence number and a CRC32 of the rest; the reader
// counts lost, reordered and corrupted frames, which must all be zero. CI
// runs a scaled count; MEMIFPCAP_SOAK=full runs the 10 million Go to
// Go and 1 million through testpmd.

func soakCounts() (goToGo, viaTestpmd int) {
	if os.Getenv("MEMIFPCAP_SOAK") == "full" {
		return 10_000_000, 1_000_000
	}
	return 100_000, 20_000
}

// soakFrame fills b with frame seq: 8-byte sequence, 4-byte CRC32 of the
// rest, then bytes derived from seq.
func soakFrame(b []byte, seq uint64) {
	binary.BigEndian.PutUint64(b, seq)
	for j := 12; j < len(b); j++ {
		b[j] = byte(seq*13 + uint64(j))
	}
	binary.BigEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[12:]))
}

func soakLen(seq uint64) int { return 60 + int(seq*7919%1441) } // 60..1500

func TestSoakGoToGo(t *testing.T) {
	t.Parallel()
	n, _ := soakCounts()
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock, ReadTimeout: 10 * time.Second}, memifpcap.Config{Socket: sock, WriteTimeout: -1})
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1500)
		for i := 0; i < n; i++ {
			b := buf[:soakLen(uint64(i))]
			soakFrame(b, uint64(i))
			if err := cli.WritePacketData(b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var lost, reordered, corrupted uint64
	next := uint64(0)
	start := time.Now()
	for next < uint64(n) {
		data, _, err := srv.ZeroCopyReadPacketData()
		require.NoError(t, err, "after %d frames", next)
		seq := binary.BigEndian.Uint64(data)
		switch {
		case len(data) != soakLen(seq) || binary.BigEndian.Uint32(data[8:]) != crc32.ChecksumIEEE(data[12:]):
			corrupted++
		case seq > next:
			lost += seq - next
		case seq < next:
			reordered++
		}
		if seq >= next {
			next = seq + 1
		}
	}
	require.NoError(t, <-done)
	t.Logf("%d frames Go to Go in %v: lost %d, reordered %d, corrupted %d", n, time.Since(start), lost, reordered, corrupted)
	require.Zero(t, lost)
	require.Zero(t, reordered)
	require.Zero(t, corrupted)
	require.Equal(t, uint64(n), srv.Stats().Packets)
	require.Zero(t, srv.Stats().BadDescriptors)
}

// Through testpmd io forwarding: echo checks every byte and the order.
func TestSoakTestpmd(t *testing.T) {
	_, n := soakCounts()
	sock := abstractName(t)
	p := startPeer(t, testpmd.Config{Role: "server", Socket: sock, Forward: "io"})
	h, err := memifpcap.Open(&memifpcap.Config{Socket: sock, ReadTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	require.NoError(t, p.WaitConnected(waitCtx(t, 30*time.Second)))
	require.NoError(t, p.StartForwarding())
	start := time.Now()
	echo(t, h, []int{60, 1500}, n/2)
	t.Logf("%d frames through testpmd in %v, every one back intact and in order", n, time.Since(start))
	require.NoError(t, p.StopForwarding())
	require.Equal(t, uint64(n), h.Stats().Packets)
	require.Zero(t, h.Stats().BadDescriptors)
}
