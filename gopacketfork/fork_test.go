package gopacketfork_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	googlegopacket "github.com/google/gopacket"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/gopacketfork"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// Frames built with the fork's layers and injected with WritePacketData
// come out of the fork's NewPacketSource over the peer decoded to the
// fork's Ethernet/IPv4/UDP layers, byte-exact, in order, with the queue in
// AncillaryData; in both directions, small frames and chains.
func TestPacketSourceDecodesForkLayers(t *testing.T) {
	srv, cli := pair(t, memifpcap.Config{}, memifpcap.Config{})
	require.Equal(t, layers.LinkTypeEthernet, srv.LinkType())
	require.Equal(t, gopacket.TimestampResolutionNanosecond, srv.Resolution())
	const n = 200
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = udpFrame(t, i, payloadLen(i))
	}
	for _, c := range []struct {
		name   string
		tx, rx *gopacketfork.Handle
	}{{"client to server", cli, srv}, {"server to client", srv, cli}} {
		t.Run(c.name, func(t *testing.T) {
			before := c.rx.Stats().Packets
			errc := send(c.tx, frames)
			src := gopacket.NewPacketSource(c.rx, c.rx.LinkType())
			for i := 0; i < n; i++ {
				p, err := src.NextPacket()
				require.NoError(t, err, "packet %d", i)
				checkUDP(t, p, i)
				md := p.Metadata()
				require.Equal(t, len(frames[i]), md.CaptureLength)
				require.Equal(t, len(frames[i]), md.Length)
				require.False(t, md.Truncated, "frame %d", i)
				require.Equal(t, 0, queueOf(t, md.CaptureInfo))
			}
			require.NoError(t, <-errc)
			require.Equal(t, uint64(n), c.rx.Stats().Packets-before)
			n, err := c.rx.PollBatch(make([]gopacketfork.Message, 4))
			require.NoError(t, err)
			require.Zero(t, n, "a frame more than was sent")
		})
	}
}

// The fork's NewZeroCopyPacketSource over a Handle and the zero-copy reads
// themselves: the data and the CaptureInfo are right, and the
// AncillaryData is the reader's own slice (the same backing array read
// after read: nothing boxed or copied per packet).
func TestZeroCopyReads(t *testing.T) {
	srv, cli := pair(t, memifpcap.Config{}, memifpcap.Config{})
	const n = 64
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = udpFrame(t, i, payloadLen(i))
	}
	errc := send(cli, frames)
	src := gopacket.NewZeroCopyPacketSource(srv, srv.LinkType(), gopacket.WithNoCopy(true))
	for i := 0; i < n/2; i++ {
		p, err := src.NextPacket()
		require.NoError(t, err, "packet %d", i)
		checkUDP(t, p, i)
	}
	var first *any
	for i := n / 2; i < n; i++ {
		data, ci, err := srv.ZeroCopyReadPacketData()
		require.NoError(t, err, "packet %d", i)
		require.Equal(t, frames[i], data)
		require.Equal(t, len(frames[i]), ci.CaptureLength)
		require.Equal(t, 0, queueOf(t, ci))
		if first == nil {
			first = &ci.AncillaryData[0]
		}
		require.Same(t, first, &ci.AncillaryData[0], "AncillaryData is a new slice")
	}
	require.NoError(t, <-errc)
	require.Equal(t, uint64(n), srv.Stats().Packets)
}

// Batch reads through the adapter's Message: every frame byte-exact (Data
// gathers chains), CaptureInfo of the fork's type with the lengths,
// Message.Queue, and exactly the frames sent, written with the adapter's
// WriteBatch.
func TestBatchReadsAndWrites(t *testing.T) {
	srv, cli := pair(t, memifpcap.Config{}, memifpcap.Config{RingSize: 2048})
	const n, batch = 300, 16
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = udpFrame(t, i, payloadLen(i))
	}
	errc := make(chan error, 1)
	go func() {
		out := make([]gopacketfork.Message, batch)
		for i := 0; i < n; i += batch {
			k := min(batch, n-i)
			for j := 0; j < k; j++ {
				// Two buffers per frame: WriteBatch sends their concatenation.
				f := frames[i+j]
				out[j].Buffers = [][]byte{f[:10], f[10:]}
			}
			sent, err := cli.WriteBatch(out[:k])
			if err == nil && sent != k {
				err = io.ErrShortWrite
			}
			for j := 0; err == nil && j < k; j++ {
				if out[j].N != len(frames[i+j]) {
					err = io.ErrShortWrite
				}
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	ms := make([]gopacketfork.Message, batch)
	var buf []byte
	got := 0
	for got < n {
		k, err := srv.ReadBatch(ms)
		require.NoError(t, err)
		require.Positive(t, k)
		for _, m := range ms[:k] {
			want := frames[got]
			buf = m.Data(buf)
			require.Equal(t, want, m.Data(buf), "frame %d", got)
			var ci gopacket.CaptureInfo = m.CaptureInfo
			require.Equal(t, len(want), ci.CaptureLength)
			require.Equal(t, len(want), ci.Length)
			require.Equal(t, len(want), m.N)
			require.False(t, ci.Timestamp.IsZero())
			require.Nil(t, ci.AncillaryData)
			require.Zero(t, m.Queue)
			p := gopacket.NewPacket(m.Data(buf), layers.LinkTypeEthernet, gopacket.Default)
			checkUDP(t, p, got)
			got++
		}
	}
	require.NoError(t, <-errc)
	require.Equal(t, n, got)
	require.Equal(t, uint64(n), srv.Stats().Packets)
	require.Equal(t, uint64(n), cli.Stats().TxPackets)
	k, err := srv.PollBatch(ms)
	require.NoError(t, err)
	require.Zero(t, k)
}

// With two receive queues, the queue a frame came in on is carried over
// into the fork's CaptureInfo (Handle-level reads, merged), into
// Message.Queue (batch reads), and per-queue RxQueue readers feed the
// fork's NewPacketSource with exactly their queue's frames.
func TestTwoQueuesCarryTheQueue(t *testing.T) {
	srv, cli := pair(t, memifpcap.Config{RxQueues: 2}, memifpcap.Config{TxQueues: 2})
	require.Equal(t, 2, srv.NumRxQueues())
	rx, _ := srv.ConnectedQueues()
	require.Equal(t, 2, rx)
	const perQueue = 40
	// Frame seq is sent on queue seq%2.
	write := func() {
		for i := 0; i < 2*perQueue; i++ {
			require.NoError(t, cli.TxQueue(i%2).WritePacketData(udpFrame(t, i, payloadLen(i))))
		}
	}
	t.Run("handle reads", func(t *testing.T) {
		write()
		next := [2]int{0, 1}
		for i := 0; i < 2*perQueue; i++ {
			data, ci, err := srv.ReadPacketData()
			require.NoError(t, err)
			q := queueOf(t, ci)
			seq := int(binary.BigEndian.Uint32(data[42:]))
			require.Equal(t, seq%2, q, "frame %d came in on queue %d", seq, q)
			require.Equal(t, next[q], seq, "queue %d out of order", q)
			next[q] += 2
		}
		require.Equal(t, [2]int{2 * perQueue, 2*perQueue + 1}, next)
	})
	t.Run("batch reads", func(t *testing.T) {
		write()
		ms := make([]gopacketfork.Message, 8)
		var buf []byte
		count := [2]int{}
		for got := 0; got < 2*perQueue; {
			k, err := srv.ReadBatch(ms)
			require.NoError(t, err)
			for _, m := range ms[:k] {
				seq := int(binary.BigEndian.Uint32(m.Data(buf)[42:]))
				require.Equal(t, seq%2, m.Queue)
				count[m.Queue]++
			}
			got += k
		}
		require.Equal(t, [2]int{perQueue, perQueue}, count)
	})
	t.Run("queue readers", func(t *testing.T) {
		write()
		for q := 0; q < 2; q++ {
			rq := srv.RxQueue(q)
			require.Same(t, rq, srv.RxQueue(q))
			require.Equal(t, q, rq.ID())
			src := gopacket.NewPacketSource(rq, srv.LinkType())
			for i := 0; i < perQueue; i++ {
				p, err := src.NextPacket()
				require.NoError(t, err)
				checkUDP(t, p, 2*i+q)
				require.Equal(t, q, queueOf(t, p.Metadata().CaptureInfo))
			}
			k, err := rq.PollBatch(make([]gopacketfork.Message, 4))
			require.NoError(t, err)
			require.Zero(t, k, "queue %d has a frame more", q)
		}
		require.Nil(t, srv.RxQueue(2))
		require.Nil(t, srv.RxQueue(-1))
	})
	require.Equal(t, uint64(6*perQueue), srv.Stats().Packets)
}

// What the fork's PacketSource reads goes into the fork's pcapgo writers,
// pcap and pcapng, and comes back from its readers byte-exact, with the
// link type and the lengths, exactly as many frames as were sent.
func TestPcapgoRoundTrip(t *testing.T) {
	srv, cli := pair(t, memifpcap.Config{}, memifpcap.Config{})
	const n = 50
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = udpFrame(t, i, payloadLen(i))
	}
	errc := send(cli, frames)
	var pcap, pcapng bytes.Buffer
	w := pcapgo.NewWriterNanos(&pcap)
	require.NoError(t, w.WriteFileHeader(uint32(srv.SnapLen()), srv.LinkType()))
	ng, err := pcapgo.NewNgWriter(&pcapng, srv.LinkType())
	require.NoError(t, err)
	src := gopacket.NewPacketSource(srv, srv.LinkType())
	stamps := make([]int64, n)
	for i := 0; i < n; i++ {
		p, err := src.NextPacket()
		require.NoError(t, err)
		md := p.Metadata()
		stamps[i] = md.Timestamp.UnixNano()
		require.NoError(t, w.WritePacket(md.CaptureInfo, p.Data()))
		require.NoError(t, ng.WritePacket(md.CaptureInfo, p.Data()))
	}
	require.NoError(t, ng.Flush())
	require.NoError(t, <-errc)

	r, err := pcapgo.NewReader(&pcap)
	require.NoError(t, err)
	require.Equal(t, layers.LinkTypeEthernet, r.LinkType())
	nr, err := pcapgo.NewNgReader(&pcapng, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	require.Equal(t, layers.LinkTypeEthernet, nr.LinkType())
	for name, rd := range map[string]gopacket.PacketDataSource{"pcap": r, "pcapng": nr} {
		for i := 0; i < n; i++ {
			data, ci, err := rd.ReadPacketData()
			require.NoError(t, err, "%s frame %d", name, i)
			require.Equal(t, frames[i], data, "%s frame %d", name, i)
			require.Equal(t, len(frames[i]), ci.Length)
			require.Equal(t, stamps[i], ci.Timestamp.UnixNano(), "%s frame %d", name, i)
		}
		_, _, err := rd.ReadPacketData()
		require.ErrorIs(t, err, io.EOF, "%s: a frame more than was sent", name)
	}
}

// In punt/inject mode the link type is 147 in the fork too, and the fork
// decodes the frames, live and from a pcap the fork's pcapgo wrote, to
// the adapter's opaque MemifPuntInject layer; frames serialized with it
// travel byte-exact.
func TestPuntInject(t *testing.T) {
	mode := memifpcap.Config{Mode: memifpcap.ModePuntInject}
	srv, cli := pair(t, mode, mode)
	require.Equal(t, gopacketfork.LinkTypeMemifPuntInject, srv.LinkType())
	require.Equal(t, layers.LinkType(147), cli.LinkType())
	require.Equal(t, "MemifPuntInject", srv.LinkType().String())
	const n = 10
	var pcap bytes.Buffer
	w := pcapgo.NewWriter(&pcap)
	require.NoError(t, w.WriteFileHeader(65536, srv.LinkType()))
	src := gopacket.NewPacketSource(srv, srv.LinkType())
	for i := 0; i < n; i++ {
		contents := bytes.Repeat([]byte{byte(i)}, 1+i*300)
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, &gopacketfork.MemifPuntInject{
			BaseLayer: layers.BaseLayer{Contents: contents},
		}))
		require.NoError(t, cli.WritePacketData(buf.Bytes()))
		p, err := src.NextPacket()
		require.NoError(t, err)
		require.Len(t, p.Layers(), 1)
		l, ok := p.Layers()[0].(*gopacketfork.MemifPuntInject)
		require.True(t, ok, "first layer %T", p.Layers()[0])
		require.Equal(t, contents, l.Contents)
		require.Empty(t, l.Payload)
		require.NoError(t, w.WritePacket(p.Metadata().CaptureInfo, p.Data()))
	}
	r, err := pcapgo.NewReader(&pcap)
	require.NoError(t, err)
	require.Equal(t, gopacketfork.LinkTypeMemifPuntInject, r.LinkType())
	fsrc := gopacket.NewPacketSource(r, r.LinkType())
	for i := 0; i < n; i++ {
		p, err := fsrc.NextPacket()
		require.NoError(t, err)
		l := p.Layer(gopacketfork.LayerTypeMemifPuntInject)
		require.NotNil(t, l, "file frame %d", i)
		require.Equal(t, bytes.Repeat([]byte{byte(i)}, 1+i*300), l.LayerContents())
	}
	_, err = fsrc.NextPacket()
	require.ErrorIs(t, err, io.EOF)
	// An empty frame decodes (memif can carry none, but a file can).
	p := gopacket.NewPacket(nil, gopacketfork.LinkTypeMemifPuntInject, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
}

// CaptureInfo converts google/gopacket's CaptureInfo field for field,
// keeping the very AncillaryData slice.
func TestCaptureInfo(t *testing.T) {
	anc := []any{memifpcap.AncillaryQueue{Queue: 3}}
	in := googlegopacket.CaptureInfo{CaptureLength: 60, Length: 70, InterfaceIndex: 2, AncillaryData: anc}
	out := gopacketfork.CaptureInfo(in)
	assert.Equal(t, 60, out.CaptureLength)
	assert.Equal(t, 70, out.Length)
	assert.Equal(t, 2, out.InterfaceIndex)
	assert.Same(t, &anc[0], &out.AncillaryData[0])
}
