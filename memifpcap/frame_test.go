package memifpcap_test

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/ring"
)

var serializeOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// udpFrame returns the layers of an Ethernet/IPv4/UDP frame (IPv6 when
// v6) with n bytes of payload derived from seq: 42 bytes of headers (62
// for IPv6); below 60 bytes the Ethernet layer pads by appending.
func udpFrame(seq, n int, v6 bool) []gopacket.SerializableLayer {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(seq*13 + i*7 + i>>8)
	}
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x02, 0, 0, 0x77, 0, 0x0a},
		DstMAC:       net.HardwareAddr{0x02, 0, 0, 0x77, 0, 0x0b},
		EthernetType: layers.EthernetTypeIPv4,
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(40000 + seq%1000), DstPort: 9}
	var ip gopacket.SerializableLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: net.ParseIP("fd00:77::1"), DstIP: net.ParseIP("fd00:77::2")}
		_ = udp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Id: uint16(seq), Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP{10, 77, 0, 1}, DstIP: net.IP{10, 77, 0, 2}}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	return []gopacket.SerializableLayer{eth, ip, udp, gopacket.Payload(payload)}
}

// plain serializes ls into gopacket's own buffer: what the FrameWriter
// must produce byte for byte.
func plain(t testing.TB, ls []gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, serializeOpts, ls...))
	return buf.Bytes()
}

// writerSizes are payload sizes around the interesting edges with 2048-byte
// buffers: padded, in the slot's headroom, moved within the slot, a whole
// slot, one byte into a chain, jumbo.
var writerSizes = []int{0, 17, 18, 1000, 1942, 1943, 2006, 2007, 4000, 8958}

// A frame serialized into a FrameWriter arrives byte-identical to
// gopacket.SerializeLayers into an ordinary buffer, in both directions,
// for small frames and for chains.
func TestFrameWriterMatchesSerializeLayers(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	for _, dir := range []struct {
		name   string
		tx, rx *memifpcap.Handle
	}{{"client to server", cli, srv}, {"server to client", srv, cli}} {
		t.Run(dir.name, func(t *testing.T) {
			w := dir.tx.NewFrameWriter()
			before := dir.tx.Stats()
			var sent uint64
			for i, n := range writerSizes {
				for _, v6 := range []bool{false, true} {
					ls := udpFrame(i, n, v6)
					want := plain(t, ls)
					require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, ls...))
					require.Equal(t, want, w.Bytes(), "payload %d: Bytes() before Send", n)
					require.NoError(t, w.Send(), "payload %d", n)
					got, ci, err := dir.rx.ReadPacketData()
					require.NoError(t, err)
					require.Equal(t, want, got, "payload %d v6 %v: %d bytes received, want %d", n, v6, len(got), len(want))
					require.Equal(t, len(want), ci.Length)
					sent += uint64(len(want))
				}
			}
			st := dir.tx.Stats()
			assert.Equal(t, uint64(2*len(writerSizes)), st.TxPackets-before.TxPackets)
			assert.Equal(t, sent, st.TxBytes-before.TxBytes)
			assert.Zero(t, st.TxDropped)
		})
	}
}

// Queue fills successive slots without publishing; Flush publishes them at
// once, and WritePacketData in between publishes them too, in order.
func TestFrameWriterBatch(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t,
		memifpcap.Config{Socket: sock, ReadTimeout: 30 * time.Millisecond},
		memifpcap.Config{Socket: sock, ReadTimeout: 30 * time.Millisecond})
	for _, dir := range []struct {
		name   string
		tx, rx *memifpcap.Handle
	}{{"client to server", cli, srv}, {"server to client", srv, cli}} {
		t.Run(dir.name, func(t *testing.T) {
			w := dir.tx.NewFrameWriter()
			var want [][]byte
			for i := 0; i < 40; i++ {
				ls := udpFrame(i, []int{10, 500, 3000}[i%3], i%2 == 1)
				want = append(want, plain(t, ls))
				require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, ls...))
				require.NoError(t, w.Queue())
			}
			before := dir.tx.Stats().TxPackets
			_, _, err := dir.rx.ReadPacketData()
			require.ErrorIs(t, err, memifpcap.ErrTimeout, "a queued frame was visible before Flush")
			require.NoError(t, w.Flush())
			require.Equal(t, before+40, dir.tx.Stats().TxPackets)
			for i, f := range want {
				got, _, err := dir.rx.ReadPacketData()
				require.NoError(t, err, "frame %d", i)
				require.Equal(t, f, got, "frame %d", i)
			}
			_, _, err = dir.rx.ReadPacketData()
			require.ErrorIs(t, err, memifpcap.ErrTimeout)
			require.NoError(t, w.Flush(), "Flush with nothing queued")

			// A WritePacketData after queued frames publishes them
			// before its own.
			require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, udpFrame(1, 20, false)...))
			require.NoError(t, w.Queue())
			require.NoError(t, dir.tx.WritePacketData(frame(2, 100)))
			got, _, err := dir.rx.ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, plain(t, udpFrame(1, 20, false)), got)
			got, _, err = dir.rx.ReadPacketData()
			require.NoError(t, err)
			require.Equal(t, frame(2, 100), got)
			require.NoError(t, w.Flush())
		})
	}
}

// A batch larger than the ring is published early when the ring fills:
// the peer could never make room for slots it cannot see.
func TestFrameWriterBatchLargerThanRing(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock, RingSize: 8})
	w := cli.NewFrameWriter()
	const n = 50
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := gopacket.SerializeLayers(w, serializeOpts, udpFrame(i, 100+i*100, false)...); err != nil {
				done <- err
				return
			}
			if err := w.Queue(); err != nil {
				done <- fmt.Errorf("Queue %d: %w", i, err)
				return
			}
		}
		done <- w.Flush()
	}()
	for i := 0; i < n; i++ {
		got, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, plain(t, udpFrame(i, 100+i*100, false)), got, "frame %d", i)
	}
	require.NoError(t, <-done)
	assert.Equal(t, uint64(n), cli.Stats().TxPackets)
}

// While a FrameWriter builds a frame in the next slot, other writers wait:
// they go out after it, or time out.
func TestFrameWriterHoldsTheRing(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock},
		memifpcap.Config{Socket: sock, WriteTimeout: time.Second})
	w := cli.NewFrameWriter()
	require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, udpFrame(1, 100, false)...))

	start := time.Now()
	err := cli.WritePacketData(frame(9, 64))
	require.ErrorIs(t, err, memifpcap.ErrTimeout)
	require.GreaterOrEqual(t, time.Since(start), time.Second)
	require.Equal(t, uint64(1), cli.Stats().TxDropped)
	require.Zero(t, cli.Stats().TxRingFull, "waiting for a FrameWriter is not a full ring")

	var wg sync.WaitGroup
	wg.Add(2)
	errs := make(chan error, 2)
	go func() { defer wg.Done(); errs <- cli.WritePacketData(frame(2, 64)) }()
	w2 := cli.NewFrameWriter()
	go func() {
		defer wg.Done()
		if err := gopacket.SerializeLayers(w2, serializeOpts, udpFrame(3, 10, false)...); err != nil {
			errs <- err
			return
		}
		errs <- w2.Send()
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, w.Send())
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, _, err := srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, plain(t, udpFrame(1, 100, false)), got, "the held frame goes first")
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		got, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		seen[string(got)] = true
	}
	require.True(t, seen[string(frame(2, 64))] && seen[string(plain(t, udpFrame(3, 10, false)))], "the waiting writers' frames arrive after it")

	// Discard frees the ring without sending.
	require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, udpFrame(4, 100, false)...))
	w.Discard()
	require.NoError(t, cli.WritePacketData(frame(5, 64)))
	got, _, err = srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, frame(5, 64), got)
	require.Equal(t, uint64(4), cli.Stats().TxPackets)
}

func TestFrameWriterEmptyFrames(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	w := cli.NewFrameWriter()
	require.ErrorIs(t, w.Send(), ring.ErrEmptyFrame, "Send of nothing")
	// A layer of no bytes reserves a slot but makes no frame.
	require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, gopacket.Payload(nil)))
	require.ErrorIs(t, w.Send(), ring.ErrEmptyFrame)
	// WritePacketData of nothing is refused without hurting the link.
	require.ErrorIs(t, cli.WritePacketData(nil), ring.ErrEmptyFrame)
	require.True(t, cli.LinkUp())
	require.NoError(t, cli.WritePacketData(frame(1, 70)))
	got, _, err := srv.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, frame(1, 70), got)
	// Bad lengths are errors, not panics, and reserve nothing.
	_, err = w.PrependBytes(-1)
	require.Error(t, err)
	_, err = w.AppendBytes(-1)
	require.Error(t, err)
	require.NoError(t, cli.WritePacketData(frame(2, 70)))
	_, _, err = srv.ReadPacketData()
	require.NoError(t, err)
}

// The link goes down while a frame is being built: the slot stays mapped
// (writing into it is harmless), Send reports ErrLinkDown, and so does
// Flush for frames queued before. The next frame goes over the new link.
func TestFrameWriterLinkDown(t *testing.T) {
	sock := sockPath(t)
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock, ReconnectInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	defer cli.Close()
	ctx := waitCtx(t, 10*time.Second)
	require.NoError(t, srv.WaitLinkUp(ctx))

	w := cli.NewFrameWriter()
	require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, udpFrame(1, 100, false)...))
	require.NoError(t, w.Queue())
	require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, udpFrame(2, 100, false)...))
	require.NoError(t, w.Queue())
	b, err := w.PrependBytes(8) // a slot is held again
	require.NoError(t, err)

	require.NoError(t, srv.Close())
	for cli.Stats().Disconnects == 0 { // teardown is complete
		time.Sleep(time.Millisecond)
	}
	copy(b, "harmless")
	more, err := w.PrependBytes(1990) // moves the frame within the old slot
	require.NoError(t, err)
	more[0] = 1
	drop := cli.Stats().TxDropped
	err = w.Send()
	require.ErrorIs(t, err, memifpcap.ErrLinkDown)
	require.Contains(t, err.Error(), "2 queued frames were not sent")
	require.NoError(t, w.Flush(), "the loss was reported once")
	require.Equal(t, drop+3, cli.Stats().TxDropped, "the frame being built and the two queued ones")
	require.Zero(t, cli.Stats().TxPackets)

	srv2, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	require.NoError(t, err)
	defer srv2.Close()
	require.NoError(t, cli.WaitLinkUp(ctx))
	require.NoError(t, srv2.WaitLinkUp(ctx))
	require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, udpFrame(3, 100, false)...))
	require.NoError(t, w.Send())
	got, _, err := srv2.ReadPacketData()
	require.NoError(t, err)
	require.Equal(t, plain(t, udpFrame(3, 100, false)), got)

	// Frames queued on a link that went down are reported by Flush.
	require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, udpFrame(4, 100, false)...))
	require.NoError(t, w.Queue())
	require.NoError(t, srv2.Close())
	for cli.Stats().Disconnects < 2 {
		time.Sleep(time.Millisecond)
	}
	err = w.Flush()
	require.ErrorIs(t, err, memifpcap.ErrLinkDown)
	require.Contains(t, err.Error(), "1 queued frames were not sent")
}

// Close while a frame is being built: the FrameWriter fails cleanly.
func TestFrameWriterClose(t *testing.T) {
	sock := sockPath(t)
	_, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	w := cli.NewFrameWriter()
	require.NoError(t, gopacket.SerializeLayers(w, serializeOpts, udpFrame(1, 100, false)...))
	require.NoError(t, cli.Close())
	require.ErrorIs(t, w.Send(), memifpcap.ErrClosed)
	_, err := w.PrependBytes(10)
	require.ErrorIs(t, err, memifpcap.ErrClosed)
	w.Discard()
	require.Zero(t, len(w.Bytes()))
}

// A frame still being built when the Handle closes is dropped on the next
// call: its slot's memory is gone, and writing on would fault.
func TestFrameWriterBuildingAcrossClose(t *testing.T) {
	sock := sockPath(t)
	_, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	w := cli.NewFrameWriter()
	_, err := w.PrependBytes(100)
	require.NoError(t, err)
	require.NoError(t, cli.Close())
	_, err = w.PrependBytes(10)
	require.ErrorIs(t, err, memifpcap.ErrClosed)
	_, err = w.AppendBytes(10)
	require.ErrorIs(t, err, memifpcap.ErrClosed)
	require.Zero(t, len(w.Bytes()))
}

// The frame of a FrameWriter is the same bytes whichever way it is built:
// by appending (front to back), by prepending, or both.
func TestFrameWriterAppendStyle(t *testing.T) {
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock})
	for _, h := range [][2]*memifpcap.Handle{{cli, srv}, {srv, cli}} {
		w := h[0].NewFrameWriter()
		want := frame(7, 1900)
		for off := 0; off < len(want); off += 100 {
			b, err := w.AppendBytes(100)
			require.NoError(t, err)
			copy(b, want[off:])
		}
		hdr, err := w.PrependBytes(14)
		require.NoError(t, err)
		copy(hdr, "0123456789abcd")
		require.NoError(t, w.Send())
		got, _, err := h[1].ReadPacketData()
		require.NoError(t, err)
		require.Equal(t, append([]byte("0123456789abcd"), want...), got)
	}
}

func TestWritePacketDataAfterFrameWriterMix(t *testing.T) {
	// Interleaving both writers over many frames and wrap-arounds of a
	// small ring keeps every frame whole and in order.
	sock := sockPath(t)
	srv, cli := pair(t, memifpcap.Config{Socket: sock}, memifpcap.Config{Socket: sock, RingSize: 16})
	w := cli.NewFrameWriter()
	errc := make(chan error, 1)
	const n = 600
	want := func(i int) []byte {
		if i%2 == 0 {
			return frame(i, frameLen(i))
		}
		return plain(t, udpFrame(i, frameLen(i)-42, false))
	}
	go func() {
		for i := 0; i < n; i++ {
			var err error
			if i%2 == 0 {
				err = cli.WritePacketData(frame(i, frameLen(i)))
			} else if err = gopacket.SerializeLayers(w, serializeOpts, udpFrame(i, frameLen(i)-42, false)...); err == nil {
				if i%3 == 0 {
					err = w.Queue()
				} else {
					err = w.Send()
				}
			}
			if err != nil {
				errc <- fmt.Errorf("frame %d: %w", i, err)
				return
			}
		}
		errc <- w.Flush()
	}()
	for i := 0; i < n; i++ {
		got, _, err := srv.ReadPacketData()
		require.NoError(t, err)
		if !bytes.Equal(got, want(i)) {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(got), len(want(i)))
		}
	}
	require.NoError(t, <-errc)
}
