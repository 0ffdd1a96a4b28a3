package memifpcap_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// frame builds test frame i: a 4-byte sequence number, then bytes that
// depend on both the number and the position, so a frame glued, cut,
// reordered or overwritten is caught.
func frame(i, length int) []byte {
	b := make([]byte, length)
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < length; j++ {
		b[j] = byte(i*31 + j*7 + j>>8)
	}
	return b
}

// frameLen spreads lengths over 60..9000, hitting both ends exactly.
func frameLen(i int) int {
	switch i % 97 {
	case 0:
		return 60
	case 1:
		return 9000
	case 2:
		return 2048 // exactly one buffer
	case 3:
		return 2049 // one byte into a second descriptor
	}
	return 60 + (i*7919)%(9000-60+1)
}

func sockPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "memif.sock")
}

func abstractName(t *testing.T) string {
	return fmt.Sprintf("@memifpcap-test-%d-%d", os.Getpid(), rand.Int63())
}

// pair opens a server on sock and a client connected to it.
func pair(t *testing.T, server, client memifpcap.Config) (*memifpcap.Handle, *memifpcap.Handle) {
	t.Helper()
	server.Role = memifpcap.RoleServer
	client.Role = memifpcap.RoleClient
	srv, err := memifpcap.Open(&server)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	cli, err := memifpcap.Open(&client)
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	require.True(t, cli.LinkUp())
	return srv, cli
}

// transfer writes n frames from tx while rx reads them, and checks every
// byte and the order.
func transfer(t *testing.T, tx, rx *memifpcap.Handle, n int, zeroCopy bool) {
	t.Helper()
	// A writer that gives up, or reads that never end, must fail the test
	// at once with the writer's error, never hang it: either closes rx,
	// which ends a blocked read with io.EOF. It runs in goroutines, so it
	// reports with Errorf.
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := tx.WritePacketData(frame(i, frameLen(i))); err != nil {
				errc <- fmt.Errorf("write %d: %w", i, err)
				rx.Close()
				return
			}
		}
		errc <- nil
	}()
	watchdog := time.AfterFunc(2*time.Minute, func() { rx.Close() })
	defer watchdog.Stop()
	for i := 0; i < n; i++ {
		var data []byte
		var ci gopacket.CaptureInfo
		var err error
		if zeroCopy {
			data, ci, err = rx.ZeroCopyReadPacketData()
		} else {
			data, ci, err = rx.ReadPacketData()
		}
		if err != nil {
			select {
			case werr := <-errc:
				t.Errorf("read %d: %v; the writer: %v", i, err, werr)
			default:
				t.Errorf("read %d: %v (the writer is still writing: the 2-minute watchdog?)", i, err)
			}
			return
		}
		want := frame(i, frameLen(i))
		if !bytes.Equal(data, want) {
			got := -1
			if len(data) >= 4 {
				got = int(binary.BigEndian.Uint32(data))
			}
			t.Errorf("frame %d: got %d bytes (seq %d), want %d bytes", i, len(data), got, len(want))
			return
		}
		if ci.CaptureLength != len(want) || ci.Length != len(want) || ci.Timestamp.IsZero() {
			t.Errorf("frame %d: CaptureInfo %+v", i, ci)
			return
		}
	}
	if err := <-errc; err != nil {
		t.Error(err)
	}
}

func TestGoToGoBothDirections(t *testing.T) {
	sock := sockPath(t)
	// A reader starved of CPU on a loaded machine must not make the
	// writer give up: 30 s for room in a full ring.
	srv, cli := pair(t,
		memifpcap.Config{Socket: sock, ID: 3, WriteTimeout: 30 * time.Second},
		memifpcap.Config{Socket: sock, ID: 3, WriteTimeout: 30 * time.Second})
	const n = 10000
	var wg sync.WaitGroup
	wg.Add(2)
	// Client to server (C2S) and server to client (S2C) at the same time.
	go func() { defer wg.Done(); transfer(t, cli, srv, n, false) }()
	go func() { defer wg.Done(); transfer(t, srv, cli, n, true) }()
	wg.Wait()

	var bytesSent uint64
	for i := 0; i < n; i++ {
		bytesSent += uint64(frameLen(i))
	}
	for _, h := range []*memifpcap.Handle{srv, cli} {
		st := h.Stats()
		assert.Equal(t, uint64(n), st.Packets)
		assert.Equal(t, bytesSent, st.Bytes)
		assert.Equal(t, uint64(n), st.TxPackets)
		assert.Equal(t, bytesSent, st.TxBytes)
		assert.Zero(t, st.BadDescriptors)
		assert.Zero(t, st.TxDropped)
		assert.Equal(t, uint64(1), st.Connects)
	}
}

func TestGoToGoAbstractSocket(t *testing.T) {
	name := abstractName(t)
	srv, cli := pair(t,
		memifpcap.Config{Socket: name},
		memifpcap.Config{Socket: name})
	transfer(t, cli, srv, 500, true)
	transfer(t, srv, cli, 500, false)
}

func TestGoToGoVPPAbstractSyntax(t *testing.T) {
	name := abstractName(t)
	// VPP spells the same abstract address "abstract:NAME".
	srv, cli := pair(t,
		memifpcap.Config{Socket: "abstract:" + name[1:]},
		memifpcap.Config{Socket: name})
	transfer(t, cli, srv, 100, false)
}

func TestGoToGoSecret(t *testing.T) {
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, Secret: "s3cret"})
	require.NoError(t, err)
	defer srv.Close()

	for _, tc := range []struct {
		secret, want string
	}{
		{"", "Secret required"},
		{"wrong", "Incorrect secret"},
	} {
		_, err := memifpcap.Open(&memifpcap.Config{Socket: sock, Secret: tc.secret})
		require.Error(t, err, "secret %q", tc.secret)
		assert.Contains(t, err.Error(), tc.want)
	}
	assert.False(t, srv.LinkUp())

	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, Secret: "s3cret"})
	require.NoError(t, err)
	defer cli.Close()
	transfer(t, cli, srv, 50, false)
}

func TestGoToGoUnknownID(t *testing.T) {
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 1})
	require.NoError(t, err)
	defer srv.Close()
	_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, ID: 2})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ID not found")
}

func TestGoToGoAlreadyConnected(t *testing.T) {
	sock := sockPath(t)
	pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	_, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Already connected")
}

func TestTwoInterfacesOneSocket(t *testing.T) {
	sock := sockPath(t)
	srv0, cli0 := pair(t, memifpcap.Config{Socket: sock, ID: 0}, memifpcap.Config{Socket: sock, ID: 0})
	srv1, cli1 := pair(t, memifpcap.Config{Socket: sock, ID: 1}, memifpcap.Config{Socket: sock, ID: 1})
	transfer(t, cli0, srv0, 100, false)
	transfer(t, cli1, srv1, 200, false)
	assert.Equal(t, uint64(100), srv0.Stats().Packets)
	assert.Equal(t, uint64(200), srv1.Stats().Packets)

	_, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 1})
	require.Error(t, err, "a second server with the same id on one socket")
}

func TestNoServer(t *testing.T) {
	_, err := memifpcap.Open(&memifpcap.Config{Socket: sockPath(t)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "memif.sock")
}

func TestCloseUnblocksReaderAndEndsPackets(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	require.NoError(t, cli.WritePacketData(frame(1, 100)))

	src := gopacket.NewPacketSource(srv, srv.LinkType())
	packets := src.Packets()
	select {
	case p := <-packets:
		require.Equal(t, frame(1, 100), p.Data())
		require.NotNil(t, p.Layer(layers.LayerTypeEthernet))
	case <-time.After(5 * time.Second):
		t.Fatal("no packet")
	}
	// The PacketSource goroutine is now blocked in a read.
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, srv.Close())
	select {
	case _, ok := <-packets:
		require.False(t, ok, "no packet expected after Close")
	case <-time.After(5 * time.Second):
		t.Fatal("Packets() did not close after Close")
	}
	for i := 0; i < 3; i++ {
		_, _, err := srv.ReadPacketData()
		require.True(t, err == io.EOF, "read after Close: %v", err)
	}
	require.NoError(t, srv.Close(), "Close is idempotent")
	require.ErrorIs(t, srv.WritePacketData(frame(2, 60)), memifpcap.ErrClosed)
}

func TestReadTimeout(t *testing.T) {
	sock := sockPath(t)
	srv, _ := pair(t, memifpcap.Config{Socket: sock, ReadTimeout: 100 * time.Millisecond}, memifpcap.Config{Socket: sock})
	start := time.Now()
	_, _, err := srv.ReadPacketData()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.ErrorIs(t, err, memifpcap.ErrTimeout)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	// Not sticky: the next read waits again.
	start = time.Now()
	_, _, err = srv.ReadPacketData()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestSnapLen(t *testing.T) {
	// 100 bytes; 40 cuts frames to a size the copy takes in 16-byte moves.
	for _, snap := range []int{100, 40} {
		sock := sockPath(t)
		srv, cli := pair(t, memifpcap.Config{Socket: sock, SnapLen: snap}, memifpcap.Config{Socket: sock})
		truncated := 0
		for _, n := range []int{20, 40, 41, 60, 100, 101, 5000} {
			want := frame(n, n)
			require.NoError(t, cli.WritePacketData(want))
			data, ci, err := srv.ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, want[:min(n, snap)], data, "%d-byte frame, snap length %d", n, snap)
			require.Equal(t, len(data), ci.CaptureLength)
			require.Equal(t, n, ci.Length)
			if n > snap {
				truncated++
			}
		}
		require.Equal(t, uint64(truncated), srv.Stats().Truncated)
	}
}

func TestReadPacketDataTo(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	want := frame(7, 5000)
	require.NoError(t, cli.WritePacketData(want))
	buf := make([]byte, 9000)
	ci, err := srv.ReadPacketDataTo(buf)
	require.NoError(t, err)
	require.Equal(t, want, buf[:ci.CaptureLength])
	require.Equal(t, 5000, ci.Length)
}

func TestWriteTimeoutWhenRingFull(t *testing.T) {
	sock := sockPath(t)
	// Nobody reads the server side: after RingSize one-buffer frames the
	// ring is full.
	srv, cli := pair(t,
		memifpcap.Config{Socket: sock},
		memifpcap.Config{Socket: sock, RingSize: 16, WriteTimeout: 50 * time.Millisecond})
	for i := 0; i < 16; i++ {
		require.NoError(t, cli.WritePacketData(frame(i, 64)))
	}
	err := cli.WritePacketData(frame(16, 64))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	st := cli.Stats()
	require.Equal(t, uint64(16), st.TxPackets)
	require.Equal(t, uint64(1), st.TxDropped)
	require.Equal(t, uint64(1), st.TxRingFull)
	// A 3-descriptor chain never fits in a ring of 2; with 16 slots a frame
	// of 17 buffers can never be sent.
	err = cli.WritePacketData(make([]byte, 17*2048))
	require.Error(t, err)
	// The reader drains exactly the 16 frames.
	for i := 0; i < 16; i++ {
		data, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, frame(i, 64), data)
	}
}

func TestLinkDownAndReconnect(t *testing.T) {
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, ReconnectInterval: 100 * time.Millisecond, ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	transfer(t, srv, cli, 10, false)

	require.NoError(t, srv.Close())
	_, _, err = cli.ReadPacketData()
	require.ErrorIs(t, err, memifpcap.ErrLinkDown)
	require.NotErrorIs(t, err, io.EOF)
	require.Contains(t, err.Error(), "Device closed")
	require.ErrorIs(t, cli.WritePacketData(frame(0, 60)), memifpcap.ErrLinkDown)

	// A new server on the same socket: the client comes back by itself.
	srv2, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv2.Close()
	require.NoError(t, srv2.WaitLinkUp(ctx))
	require.NoError(t, cli.WaitLinkUp(ctx))
	transfer(t, srv2, cli, 10, false)
	transfer(t, cli, srv2, 10, false)
	st := cli.Stats()
	require.Equal(t, uint64(2), st.Connects)
	require.Equal(t, uint64(1), st.Disconnects)
	require.Equal(t, uint64(20), st.Packets)
}

func TestServerAcceptsNextClient(t *testing.T) {
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv.Close()
	for round := 0; round < 3; round++ {
		cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
		require.NoError(t, err, "round %d", round)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, srv.WaitLinkUp(ctx))
		cancel()
		transfer(t, cli, srv, 20, false)
		require.NoError(t, cli.Close())
		_, _, err = srv.ReadPacketData()
		require.ErrorIs(t, err, memifpcap.ErrLinkDown, "round %d", round)
	}
	require.Equal(t, uint64(60), srv.Stats().Packets)
	require.Equal(t, uint64(3), srv.Stats().Connects)
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  memifpcap.Config
		want string
	}{
		{memifpcap.Config{RingSize: 1000}, "RingSize 1000 is not a power of two"},
		{memifpcap.Config{RingSize: 1 << 15}, "RingSize 32768"},
		{memifpcap.Config{BufferSize: 70000}, "BufferSize 70000"},
		{memifpcap.Config{Secret: "012345678901234567890123"}, "Secret is 24 bytes"},
		{memifpcap.Config{Mode: 3}, "Mode 3"},
		{memifpcap.Config{Role: 5}, "Role 5"},
		{memifpcap.Config{CacheLine: 32}, "CacheLine 32"},
		{memifpcap.Config{Socket: "@" + string(bytes.Repeat([]byte("x"), 200))}, "Socket"},
	} {
		_, err := memifpcap.Open(&tc.cfg)
		require.Error(t, err, "%+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)
	}
	// Every problem is reported at once.
	_, err := memifpcap.Open(&memifpcap.Config{RingSize: 3, BufferSize: -1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RingSize 3")
	assert.Contains(t, err.Error(), "BufferSize -1")
}

func TestLinkTypes(t *testing.T) {
	for _, tc := range []struct {
		mode memifpcap.Mode
		want layers.LinkType
	}{
		{memifpcap.ModeEthernet, layers.LinkTypeEthernet},
		{memifpcap.ModeIP, layers.LinkTypeRaw},
	} {
		sock := sockPath(t)
		srv, cli := pair(t, memifpcap.Config{Socket: sock, Mode: tc.mode}, memifpcap.Config{Socket: sock, Mode: tc.mode})
		require.Equal(t, tc.want, srv.LinkType())
		require.Equal(t, tc.want, cli.LinkType())
	}
	// A mode mismatch is refused with the server's reason.
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv.Close()
	_, err = memifpcap.Open(&memifpcap.Config{Socket: sock, Mode: memifpcap.ModeIP})
	require.Error(t, err)
	require.Contains(t, err.Error(), "Only ethernet mode supported")
}

func TestStaleSocketFileReplaced(t *testing.T) {
	sock := sockPath(t)
	// A socket file whose listener died (left behind by a crash).
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	_, err = os.Stat(sock)
	require.NoError(t, err, "stale socket file must exist")

	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	transfer(t, cli, srv, 10, false)

	// A live listener is not taken over.
	h9, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 9})
	require.NoError(t, err, "same process, same socket: shared listener")
	require.NoError(t, h9.Close())

	other := filepath.Join(t.TempDir(), "other.sock")
	l2, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: other, Net: "unixpacket"})
	require.NoError(t, err)
	defer l2.Close()
	_, err = memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: other})
	require.Error(t, err, "another listener owns the socket")
	assert.Contains(t, err.Error(), "listening")

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: file})
	require.Error(t, err, "a regular file in the way")
	assert.Contains(t, err.Error(), "not a socket")
}

func TestSetBPF(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock, ReadTimeout: 200 * time.Millisecond}, memifpcap.Config{Socket: sock})
	// Keep frames whose sequence number (bytes 0..3 of frame()) is even,
	// and only their first 100 bytes.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 1, SkipTrue: 1},
		bpf.RetConstant{Val: 100},
		bpf.RetConstant{Val: 0},
	})
	require.NoError(t, err)
	require.NoError(t, srv.SetBPF(prog))
	for i := 0; i < 10; i++ {
		require.NoError(t, cli.WritePacketData(frame(i, frameLen(i*11))))
	}
	for i := 0; i < 10; i += 2 {
		data, ci, err := srv.ReadPacketData()
		require.NoError(t, err)
		want := frame(i, frameLen(i*11))
		require.Equal(t, want[:min(100, len(want))], data, "frame %d", i)
		require.Equal(t, len(want), ci.Length)
	}
	_, _, err = srv.ReadPacketData()
	require.ErrorIs(t, err, memifpcap.ErrTimeout)
	st := srv.Stats()
	require.Equal(t, uint64(5), st.Packets)
	require.Equal(t, uint64(5), st.Filtered)

	require.NoError(t, srv.SetBPF(nil))
	require.NoError(t, cli.WritePacketData(frame(1, 3000)))
	data, _, err := srv.ZeroCopyReadPacketData()
	require.NoError(t, err)
	require.Equal(t, frame(1, 3000), data)

	// An instruction the pure-Go VM cannot run is refused up front.
	err = srv.SetBPF([]bpf.RawInstruction{{Op: 0xffff}})
	require.Error(t, err)
}

func TestDrain(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	for _, dir := range []struct {
		name   string
		tx, rx *memifpcap.Handle
	}{{"client to server", cli, srv}, {"server to client", srv, cli}} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		require.NoError(t, dir.tx.Drain(ctx), "%s: nothing written yet", dir.name)
		cancel()
		for i := 0; i < 10; i++ {
			require.NoError(t, dir.tx.WritePacketData(frame(i, 3000)))
		}
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		require.ErrorIs(t, dir.tx.Drain(ctx), context.DeadlineExceeded, "%s: nobody read", dir.name)
		cancel()
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done <- dir.tx.Drain(ctx)
		}()
		for i := 0; i < 10; i++ {
			data, _, err := dir.rx.ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, frame(i, 3000), data)
		}
		require.NoError(t, <-done, dir.name)
	}
	require.NoError(t, srv.Close())
	require.ErrorIs(t, srv.Drain(context.Background()), memifpcap.ErrClosed)
	require.Eventually(t, func() bool { return !cli.LinkUp() }, 5*time.Second, time.Millisecond)
	// The server took every frame before it left: drained all the same.
	require.NoError(t, cli.Drain(context.Background()))

	// A server that leaves without reading: the frames are lost.
	sock2 := sockPath(t)
	srv2, cli2 := pair(t, memifpcap.Config{Socket: sock2}, memifpcap.Config{Socket: sock2, ReconnectInterval: -1})
	for i := 0; i < 5; i++ {
		require.NoError(t, cli2.WritePacketData(frame(i, 100)))
	}
	require.NoError(t, srv2.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.ErrorIs(t, cli2.Drain(ctx), memifpcap.ErrLinkDown)
}

// SetBPF does not wait for a reader that is waiting for a packet.
func TestSetBPFWhileAReaderWaits(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	got := make(chan []byte, 1)
	go func() {
		data, _, err := srv.ReadPacketData()
		if err != nil {
			data = nil
		}
		got <- data
	}()
	time.Sleep(100 * time.Millisecond) // the reader is waiting now
	prog, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 10}})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.SetBPF(prog) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2 * time.Second):
		t.Fatal("SetBPF waited for the blocked reader")
	}
	require.NoError(t, cli.WritePacketData(frame(3, 100)))
	require.Equal(t, frame(3, 100)[:10], <-got, "the waiting read uses the new filter")
}

// SetFilter takes tcpdump's expression language, compiled for the link.
func TestSetFilter(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock, ReadTimeout: 200 * time.Millisecond}, memifpcap.Config{Socket: sock})
	// frame() starts with its sequence number, big-endian: keep the even
	// ones that are longer than 100 bytes.
	require.NoError(t, srv.SetFilter("ether[3] & 1 = 0 and greater 101"))
	for i := 0; i < 10; i++ {
		require.NoError(t, cli.WritePacketData(frame(i, 60+i*10)))
	}
	for _, i := range []int{6, 8} {
		data, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, frame(i, 60+i*10), data)
	}
	_, _, err := srv.ReadPacketData()
	require.ErrorIs(t, err, memifpcap.ErrTimeout)
	require.Equal(t, uint64(8), srv.Stats().Filtered)

	err = srv.SetFilter("udp portx 53")
	require.EqualError(t, err, `memif: filter "udp portx 53": pcapfilter: syntax error at 'portx' (offset 4)`)
	require.NoError(t, srv.SetFilter(""))
	require.NoError(t, cli.WritePacketData(frame(1, 70)))
	data, _, err := srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, frame(1, 70), data)

	// On an ip-mode link, frames start with the IP header.
	sock2 := sockPath(t)
	ipSrv, _ := pair(t, memifpcap.Config{Socket: sock2, Mode: memifpcap.ModeIP}, memifpcap.Config{Socket: sock2, Mode: memifpcap.ModeIP})
	require.NoError(t, ipSrv.SetFilter("ip6 or udp"))
	require.ErrorContains(t, ipSrv.SetFilter("ether host 1:2:3:4:5:6"), "memif: filter")
}

// ReadBatch applies a filter as the single reads do: frames it refuses are
// skipped (Stats().Filtered), a frame it keeps whole comes whole (an
// expression's program returns 262144, more than any frame), and a frame
// it keeps a part of comes cut to that part, with its full Length.
func TestFilterBatch(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock, ReadTimeout: 200 * time.Millisecond}, memifpcap.Config{Socket: sock})
	read := func(want int) []memifpcap.Message {
		t.Helper()
		ms := make([]memifpcap.Message, 32)
		got := 0
		for got < want {
			n, err := srv.ReadBatch(ms[got:])
			require.NoError(t, err)
			got += n
		}
		return ms[:got]
	}
	require.NoError(t, srv.SetFilter("ether[3] & 1 = 0 and greater 101"))
	for i := range 10 {
		require.NoError(t, cli.WritePacketData(frame(i, 60+i*10)))
	}
	for j, m := range read(2) {
		i := 6 + 2*j
		require.Equal(t, frame(i, 60+i*10), joined(m))
		require.Equal(t, 60+i*10, m.CaptureInfo.CaptureLength)
		require.Equal(t, 60+i*10, m.CaptureInfo.Length)
		require.Equal(t, 60+i*10, m.N)
	}
	require.Equal(t, uint64(8), srv.Stats().Filtered)
	require.Zero(t, srv.Stats().Truncated)

	prog, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 80}})
	require.NoError(t, err)
	require.NoError(t, srv.SetBPF(prog))
	for i := range 4 {
		require.NoError(t, cli.WritePacketData(frame(i, 70+i*20)))
	}
	for i, m := range read(4) {
		n := 70 + i*20
		require.Equal(t, frame(i, n)[:min(n, 80)], joined(m))
		require.Equal(t, min(n, 80), m.CaptureInfo.CaptureLength)
		require.Equal(t, n, m.CaptureInfo.Length)
	}
	require.Equal(t, uint64(3), srv.Stats().Truncated)
}

// Reads hand slots back in batches (see RxQueue): a reader that took some
// frames of a backlog and closes hands back every frame it read, so the
// writer counts only the frames never read as lost; one that reads up to
// the last frame published hands every slot back at once, so the writer's
// Drain completes without another read (but for the zero-copy read's
// own). Each read method, both directions.
func TestReadsHandSlotsBack(t *testing.T) {
	t.Parallel()
	reads := map[string]func(*memifpcap.Handle) error{
		"copy": func(h *memifpcap.Handle) error { _, _, err := h.ReadPacketData(); return err },
		"to": func(h *memifpcap.Handle) error {
			_, err := h.ReadPacketDataTo(make([]byte, 100))
			return err
		},
		"zerocopy": func(h *memifpcap.Handle) error { _, _, err := h.ZeroCopyReadPacketData(); return err },
	}
	for name, read := range reads {
		for _, c2s := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/c2s=%v", name, c2s), func(t *testing.T) {
				t.Parallel()
				sock := sockPath(t)
				srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock, ReconnectInterval: -1})
				tx, rx := cli, srv
				if !c2s {
					tx, rx = srv, cli
				}
				send := func(n int) {
					ms := make([]memifpcap.Message, n)
					for i := range ms {
						ms[i].Buffers = [][]byte{frame(i, 80)}
					}
					k, err := tx.TxQueue(0).WriteBatch(ms)
					require.NoError(t, err)
					require.Equal(t, n, k)
				}
				// Up to the last frame published: Drain completes (a
				// zero-copy read holds its frame's slot until the next
				// read, by its contract).
				send(10)
				for range 10 {
					require.NoError(t, read(rx))
				}
				if name != "zerocopy" {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					require.NoError(t, tx.Drain(ctx), "the reader took every frame")
				}
				// 5 of a backlog of 20, then the reader closes.
				send(20)
				for range 5 {
					require.NoError(t, read(rx))
				}
				st0 := tx.Stats()
				require.NoError(t, rx.Close())
				// TxLost is counted at the teardown, before Disconnects
				// (the link is down already when it begins).
				require.Eventually(t, func() bool { return tx.Stats().Disconnects > st0.Disconnects }, 10*time.Second, time.Millisecond)
				require.Equal(t, uint64(15), tx.Stats().TxLost-st0.TxLost, "the frames never read, and only they, are lost")
			})
		}
	}
}
