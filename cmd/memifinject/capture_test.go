package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/memifpcap/memifpcap/capfile"
	"github.com/stretchr/testify/require"
)

// record is one packet of a test capture.
type record struct {
	ts     time.Time
	data   []byte
	length int // original length; 0 means len(data)
}

func (r record) origLen() int {
	if r.length == 0 {
		return len(r.data)
	}
	return r.length
}

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

// frameLen spreads lengths over 60..9014 (a full 9000-MTU Ethernet frame),
// hitting the ends and the 2048-byte buffer boundary exactly.
func frameLen(i int) int {
	switch i % 53 {
	case 0:
		return 60
	case 1:
		return 9014
	case 2:
		return 2048
	case 3:
		return 2049
	}
	return 60 + (i*7919)%(1514-60+1)
}

// records makes n test records starting at seq, 1.5 ms apart, with a
// nanosecond part so that microsecond files round it.
func records(seq, n int) []record {
	rs := make([]record, n)
	for i := range rs {
		rs[i] = record{ts: epoch.Add(time.Duration(seq+i)*1500*time.Microsecond + 123), data: frame(seq+i, frameLen(seq+i))}
	}
	return rs
}

func writePcap(t testing.TB, path string, nano bool, lt layers.LinkType, rs []record) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if nano {
		w = pcapgo.NewWriterNanos(f)
	}
	require.NoError(t, w.WriteFileHeader(262144, lt))
	for _, r := range rs {
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: r.origLen()}, r.data))
	}
}

func writePcapng(t testing.TB, path string, lt layers.LinkType, rs []record) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, lt)
	require.NoError(t, err)
	for _, r := range rs {
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: r.ts, CaptureLength: len(r.data), Length: r.origLen()}, r.data))
	}
	require.NoError(t, w.Flush())
}

var bigRing = ringLimit{slots: 1024, bufSize: 2048}

// readAll reads every packet of a capture with our reader.
func readAll(t testing.TB, path string) ([]record, []uint32, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	r, err := capfile.NewReader(f, path, st.Size(), &capfile.Options{CheckLength: bigRing.check})
	if err != nil {
		return nil, nil, err
	}
	var rs []record
	var lts []uint32
	var c capfile.Packet
	var p packet
	for n := 1; ; n++ {
		err := r.Next(&c)
		p.fromCapfile(&c)
		if err == io.EOF {
			return rs, lts, nil
		}
		if err != nil {
			return rs, lts, err
		}
		require.Equal(t, n, p.num)
		rs = append(rs, record{ts: p.ts, data: bytes.Clone(p.data), length: p.length})
		lts = append(lts, p.linkType)
	}
}

// readPcapgo reads a capture with gopacket's pcapgo, as the reference.
func readPcapgo(t testing.TB, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var src gopacket.PacketDataSource
	if r, err := pcapgo.NewReader(f); err == nil {
		src = r
	} else {
		_, err := f.Seek(0, io.SeekStart)
		require.NoError(t, err)
		ng, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		require.NoError(t, err)
		src = ng
	}
	var rs []record
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			return rs
		}
		require.NoError(t, err)
		rs = append(rs, record{ts: ci.Timestamp, data: data, length: ci.Length})
	}
}

func requireSameRecords(t *testing.T, want, got []record) {
	t.Helper()
	require.Equal(t, len(want), len(got), "packet count")
	for i := range want {
		require.True(t, want[i].ts.Equal(got[i].ts), "packet %d: timestamp %v, want %v", i+1, got[i].ts, want[i].ts)
		require.Equal(t, want[i].origLen(), got[i].origLen(), "packet %d: length", i+1)
		require.Equal(t, want[i].data, got[i].data, "packet %d: data", i+1)
	}
}

// Hand-built files, for what no writer produces.

type pcapFile struct {
	order binary.ByteOrder
	magic uint32
	lt    uint32
	buf   bytes.Buffer
}

func newPcapFile(order binary.ByteOrder, nano bool, lt uint32) *pcapFile {
	f := &pcapFile{order: order, magic: pcapMagicMicro, lt: lt}
	if nano {
		f.magic = pcapMagicNano
	}
	h := make([]byte, 24)
	order.PutUint32(h, f.magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 262144)
	order.PutUint32(h[20:], lt)
	f.buf.Write(h)
	return f
}

// rec appends a record header claiming caplen and length, then data.
func (f *pcapFile) rec(sec, frac, caplen, length uint32, data []byte) *pcapFile {
	h := make([]byte, 16)
	f.order.PutUint32(h, sec)
	f.order.PutUint32(h[4:], frac)
	f.order.PutUint32(h[8:], caplen)
	f.order.PutUint32(h[12:], length)
	f.buf.Write(h)
	f.buf.Write(data)
	return f
}

func (f *pcapFile) add(data []byte) *pcapFile {
	return f.rec(1, 2, uint32(len(data)), uint32(len(data)), data)
}

// ngFile builds pcapng block by block.
type ngFile struct {
	order binary.ByteOrder
	buf   bytes.Buffer
}

func newNgFile(order binary.ByteOrder) *ngFile {
	f := &ngFile{order: order}
	return f.shb(1, 0)
}

func (f *ngFile) block(typ uint32, body []byte) *ngFile {
	return f.blockLen(typ, body, uint32(12+len(body)+pad4(len(body))))
}

// blockLen writes a block with an explicit total length (for lies).
func (f *ngFile) blockLen(typ uint32, body []byte, length uint32) *ngFile {
	b := make([]byte, 8)
	f.order.PutUint32(b, typ)
	f.order.PutUint32(b[4:], length)
	f.buf.Write(b)
	f.buf.Write(body)
	f.buf.Write(make([]byte, pad4(len(body))))
	f.order.PutUint32(b, length)
	f.buf.Write(b[:4])
	return f
}

func pad4(n int) int { return (4 - n%4) % 4 }

func (f *ngFile) shb(major, minor uint16) *ngFile {
	b := make([]byte, 16)
	f.order.PutUint32(b, pcapngByteOrder)
	f.order.PutUint16(b[4:], major)
	f.order.PutUint16(b[6:], minor)
	binary.LittleEndian.PutUint64(b[8:], ^uint64(0)) // section length unknown
	return f.block(pcapngBlockSHB, b)
}

// opt encodes one option.
func (f *ngFile) opt(code uint16, v []byte) []byte {
	b := make([]byte, 4+len(v)+pad4(len(v)))
	f.order.PutUint16(b, code)
	f.order.PutUint16(b[2:], uint16(len(v)))
	copy(b[4:], v)
	return b
}

func (f *ngFile) idb(lt uint16, snap uint32, opts ...[]byte) *ngFile {
	b := make([]byte, 8)
	f.order.PutUint16(b, lt)
	f.order.PutUint32(b[4:], snap)
	for _, o := range opts {
		b = append(b, o...)
	}
	if len(opts) > 0 {
		b = append(b, 0, 0, 0, 0)
	}
	return f.block(ngBlockIDB, b)
}

func (f *ngFile) epb(ifc uint32, stamp uint64, caplen, length uint32, data []byte) *ngFile {
	b := make([]byte, 20, 20+len(data))
	f.order.PutUint32(b, ifc)
	f.order.PutUint32(b[4:], uint32(stamp>>32))
	f.order.PutUint32(b[8:], uint32(stamp))
	f.order.PutUint32(b[12:], caplen)
	f.order.PutUint32(b[16:], length)
	return f.block(ngBlockEPB, append(b, data...))
}

func (f *ngFile) add(data []byte) *ngFile {
	return f.epb(0, 1_000_000, uint32(len(data)), uint32(len(data)), data)
}

func (f *ngFile) spb(length uint32, data []byte) *ngFile {
	b := make([]byte, 4, 4+len(data))
	f.order.PutUint32(b, length)
	return f.block(ngBlockSPB, append(b, data...))
}

// The capture formats' constants the builders above need (package capfile
// has its own).
const (
	pcapMagicMicro  = 0xa1b2c3d4
	pcapMagicNano   = 0xa1b23c4d
	pcapngBlockSHB  = 0x0a0d0d0a
	pcapngByteOrder = 0x1a2b3c4d
	ngBlockIDB      = 1
	ngBlockSPB      = 3
	ngBlockEPB      = 6
	ngOptTsresol    = 9
	ngOptTsoffset   = 14
)
