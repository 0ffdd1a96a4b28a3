package memifpcap_test

import (
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// Frames read one at a time are stamped as a batch is: the frames one
// look at the peer's index revealed share one clock reading, taken with
// the first of them, and are spread evenly back from it, the last getting
// it; so a backlog costs one clock read, not one per frame. Every stamp is
// at or before its read's return, and a queue's stamps increase across
// the single-read methods and ReadBatch, which share the look's spread.
func TestSingleReadStamps(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock, ReadTimeout: 10 * time.Second}, memifpcap.Config{Socket: sock})
	// send publishes n frames with one index store.
	send := func(n int) {
		out := make([]memifpcap.Message, n)
		for i := range out {
			out[i].Buffers = [][]byte{frame(i, 64)}
		}
		k, err := cli.WriteBatch(out)
		require.NoError(t, err)
		require.Equal(t, n, k)
	}
	var last time.Time // the stamp before
	stamped := func(ts time.Time, returned time.Time, what string, i int) {
		t.Helper()
		require.True(t, ts.After(last), "%s frame %d stamped %v, not after the stamp before it, %v", what, i, ts, last)
		require.False(t, ts.After(returned), "%s frame %d stamped %v, after its read returned at %v", what, i, ts, returned)
		last = ts
	}
	buf := make([]byte, 2048)
	for _, read := range []struct {
		name string
		f    func() (gopacket.CaptureInfo, error)
	}{
		{"ZeroCopyReadPacketData", func() (gopacket.CaptureInfo, error) {
			_, ci, err := srv.ZeroCopyReadPacketData()
			return ci, err
		}},
		{"ReadPacketData", func() (gopacket.CaptureInfo, error) {
			_, ci, err := srv.ReadPacketData()
			return ci, err
		}},
		{"ReadPacketDataTo", func() (gopacket.CaptureInfo, error) { return srv.ReadPacketDataTo(buf) }},
	} {
		const backlog = 40
		send(backlog)
		stamps := make([]time.Time, backlog)
		for i := range stamps {
			ci, err := read.f()
			require.NoError(t, err, "%s frame %d", read.name, i)
			stamped(ci.Timestamp, time.Now(), read.name, i)
			stamps[i] = ci.Timestamp
		}
		step := stamps[1].Sub(stamps[0])
		require.Positive(t, step, read.name)
		for i := 2; i < len(stamps); i++ {
			require.Equal(t, step, stamps[i].Sub(stamps[i-1]), "%s: frames %d and %d not one reading's even spread", read.name, i-1, i)
		}
	}

	// Single reads, a batch, single reads again, all from one backlog:
	// one look, so one reading's even spread across the three.
	send(30)
	var all []time.Time
	for i := range 10 {
		_, ci, err := srv.ZeroCopyReadPacketData()
		require.NoError(t, err)
		stamped(ci.Timestamp, time.Now(), "before the batch", i)
		all = append(all, ci.Timestamp)
	}
	ms := make([]memifpcap.Message, 10)
	n, err := srv.ReadBatch(ms)
	require.NoError(t, err)
	require.Equal(t, 10, n)
	returned := time.Now()
	for i := range ms {
		stamped(ms[i].CaptureInfo.Timestamp, returned, "ReadBatch", i)
		all = append(all, ms[i].CaptureInfo.Timestamp)
	}
	for i := range 10 {
		_, ci, err := srv.ZeroCopyReadPacketData()
		require.NoError(t, err)
		stamped(ci.Timestamp, time.Now(), "after the batch", i)
		all = append(all, ci.Timestamp)
	}
	step := all[1].Sub(all[0])
	require.Positive(t, step)
	for i := 2; i < len(all); i++ {
		require.Equal(t, step, all[i].Sub(all[i-1]), "frames %d and %d of one look not one reading's even spread", i-1, i)
	}
}
