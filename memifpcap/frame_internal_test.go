package memifpcap

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/ring"
)

func openPair(t *testing.T, mode Mode) (srv, cli *Handle) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "memif.sock")
	srv, err := Open(&Config{Role: RoleServer, Socket: sock, Mode: mode})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	cli, err = Open(&Config{Socket: sock, Mode: mode})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	return srv, cli
}

// within reports whether b lies inside one of the session's regions.
func within(b []byte, s *session) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, r := range s.regions {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(r.Data)))
		if p >= base && p+uintptr(len(b)) <= base+uintptr(len(r.Data)) {
			return true
		}
	}
	return false
}

// A frame that fits a slot is built in the shared memory itself; the
// client's descriptor points at it where it lies, the server's keeps the
// client's offset (the frame was moved to the start of the buffer).
func TestFrameWriterBuildsInSharedMemory(t *testing.T) {
	srv, cli := openPair(t, ModeEthernet)
	for _, c := range []struct {
		name   string
		tx, rx *Handle
	}{{"client", cli, srv}, {"server", srv, cli}} {
		t.Run(c.name, func(t *testing.T) {
			w := c.tx.NewFrameWriter()
			payload := bytes.Repeat([]byte{0xab}, 500)
			require.NoError(t, gopacket.SerializeLayers(w, gopacket.SerializeOptions{}, gopacket.Payload(payload)))
			s := c.tx.sess.Load()
			require.True(t, w.buf.InSlot())
			require.True(t, within(w.Bytes(), s), "the frame is not in the session's shared memory")
			off := w.buf.Offset()
			require.Equal(t, 2048-64-500, off, "the frame starts DefaultTailroom before the slot's end")
			idx := func() uint16 {
				if c.name == "client" {
					return s.tx[0].ring.Head()
				}
				return s.tx[0].ring.Tail()
			}()
			offered := s.tx[0].ring.Desc(idx).Offset // the client's buffer, on S2C
			require.NoError(t, w.Send())
			d := s.tx[0].ring.Desc(idx)
			require.Equal(t, uint32(500), d.Length)
			require.Zero(t, d.Flags)
			if c.name == "client" {
				// Region 0, this ring's slot buffer, plus where the
				// frame started in it.
				l := ring.Layout{CacheLine: c.tx.cfg.CacheLine, Log2RingSize: c.tx.cfg.log2, NumC2S: 1, NumS2C: 1, BufferSize: 2048}
				base := l.BufferOffset(ring.C2S, 0, int(idx)&(c.tx.cfg.RingSize-1))
				require.Equal(t, base+uint32(off), d.Offset)
			} else {
				require.Equal(t, offered, d.Offset, "the server moved the client's buffer")
			}
			got, _, err := c.rx.ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, payload, got)

			// A jumbo frame is staged outside shared memory and copied.
			jumbo := bytes.Repeat([]byte{0xcd}, 9000)
			require.NoError(t, gopacket.SerializeLayers(w, gopacket.SerializeOptions{}, gopacket.Payload(jumbo)))
			require.False(t, w.buf.InSlot())
			require.False(t, within(w.Bytes(), s))
			require.NoError(t, w.Send())
			got, _, err = c.rx.ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, jumbo, got)
		})
	}
}

// The first descriptor's metadata word reaches AncillaryData; the
// zero-copy reads reuse one slice, ReadPacketData returns its own.
func TestAncillaryMetadata(t *testing.T) {
	srv, cli := openPair(t, ModeEthernet)
	send := func(f []byte, meta uint32) {
		t.Helper()
		cli.txq[0].mu.Lock()
		defer cli.txq[0].mu.Unlock()
		s := cli.sess.Load()
		head := s.tx[0].ring.Head()
		require.NoError(t, s.tx[0].Write(f))
		d := s.tx[0].ring.Desc(head)
		d.Metadata = meta
		s.tx[0].ring.SetDesc(head, d)
		s.tx[0].Publish()
	}
	send(testFrame(60), 0xdeadbeef)
	send(testFrame(5000), 7) // a chain: only the first descriptor's word counts
	send(testFrame(70), 7)
	send(testFrame(80), 0)

	data, ci, err := srv.ZeroCopyReadPacketData()
	require.NoError(t, err)
	require.Len(t, data, 60)
	require.Equal(t, []any{AncillaryQueue{Queue: 0}, AncillaryMetadata{Metadata: 0xdeadbeef}}, ci.AncillaryData)
	first := ci.AncillaryData

	b := make([]byte, 9000)
	ci, err = srv.ReadPacketDataTo(b)
	require.NoError(t, err)
	require.Equal(t, 5000, ci.CaptureLength)
	require.Equal(t, []any{AncillaryQueue{Queue: 0}, AncillaryMetadata{Metadata: 7}}, ci.AncillaryData)
	require.Same(t, &first[0], &ci.AncillaryData[0], "the zero-copy reads reuse the Handle's slice")
	require.Equal(t, AncillaryMetadata{Metadata: 7}, first[1], "and overwrite it")

	_, ci, err = srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, []any{AncillaryQueue{Queue: 0}, AncillaryMetadata{Metadata: 7}}, ci.AncillaryData)
	require.NotSame(t, &first[0], &ci.AncillaryData[0], "ReadPacketData returns its own slice")
	own := ci.AncillaryData

	_, ci, err = srv.ZeroCopyReadPacketData()
	require.NoError(t, err)
	require.Equal(t, AncillaryMetadata{Metadata: 0}, ci.AncillaryData[1])
	require.Equal(t, AncillaryMetadata{Metadata: 7}, own[1], "a later read changed ReadPacketData's slice")
}

func testFrame(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + n)
	}
	return b
}
