//go:build linux

package memifflag

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// pair is a server that reads nothing (unless the test does) and a client
// that wrote n frames to it.
func pair(t *testing.T, n int) (srv, cli *memifpcap.Handle) {
	t.Helper()
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	cli, err = memifpcap.Open(&memifpcap.Config{Socket: sock, CloseLinger: -1, ReconnectInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	for i := range n {
		require.NoError(t, cli.WritePacketData(make([]byte, 60+i)))
	}
	return srv, cli
}

func drainAsync(stop, hurry context.Context, h *memifpcap.Handle, idle time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- Drain(stop, hurry, h, idle) }()
	return ch
}

func drained(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Drain did not return within 30 s")
	}
	return nil
}

// A peer that takes every frame: done.
func TestDrainDone(t *testing.T) {
	t.Parallel()
	srv, cli := pair(t, 10)
	ch := drainAsync(context.Background(), context.Background(), cli, 0)
	for range 10 {
		_, _, err := srv.ReadPacketData()
		require.NoError(t, err)
	}
	require.NoError(t, drained(t, ch))
	require.NoError(t, cli.Close())
	require.Zero(t, cli.Stats().TxLost)
}

// A peer that takes nothing: given up after idle; after a signal (stop),
// after SignalIdle even with no idle limit; after a second one (hurry), at
// once. Close then counts every frame as lost.
func TestDrainGivesUp(t *testing.T) {
	t.Parallel()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name        string
		stop, hurry context.Context
		idle        time.Duration
		want        error
	}{
		{"idle", context.Background(), context.Background(), 200 * time.Millisecond, ErrStalled},
		{"signal", ended, context.Background(), 0, ErrStalled},
		{"second signal", ended, ended, 0, context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, cli := pair(t, 7)
			err := drained(t, drainAsync(c.stop, c.hurry, cli, c.idle))
			require.True(t, errors.Is(err, c.want), "%v", err)
			require.NoError(t, cli.Close())
			require.Equal(t, uint64(7), cli.Stats().TxLost)
		})
	}
}
