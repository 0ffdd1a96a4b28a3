package capfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
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

var epoch = time.Date(2024, 7, 14, 12, 0, 0, 0, time.UTC)

// ringLimit is memifinject's check (the largest frame a memif ring
// carries), as an example of Options.CheckLength.
type ringLimit struct{ slots, bufSize int }

func (l ringLimit) check(n uint64) string {
	need := (n + uint64(l.bufSize) - 1) / uint64(l.bufSize)
	if need <= uint64(l.slots) {
		return ""
	}
	return fmt.Sprintf("a %d-byte frame is larger than the memif ring can carry: it needs %d buffers of %d bytes and the ring has %d slots (-ring-size %d, -buffer-size %d)",
		n, need, l.bufSize, l.slots, l.slots, l.bufSize)
}

func (l ringLimit) opts() *Options { return &Options{CheckLength: l.check} }

// readAll reads every packet of a capture with our reader.
func readAll(t testing.TB, path string) ([]record, []uint32, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	r, err := NewReader(bufio.NewReader(f), path, st.Size(), bigRing.opts())
	if err != nil {
		return nil, nil, err
	}
	var rs []record
	var lts []uint32
	var p Packet
	for n := 1; ; n++ {
		err := r.Next(&p)
		if err == io.EOF {
			return rs, lts, nil
		}
		if err != nil {
			return rs, lts, err
		}
		require.Equal(t, n, p.Number)
		rs = append(rs, record{ts: p.Timestamp, data: bytes.Clone(p.Data), length: p.Length})
		lts = append(lts, p.LinkType)
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

func TestReadersMatchPcapgo(t *testing.T) {
	dir := t.TempDir()
	rs := records(0, 120)
	rs[5].length = len(rs[5].data) + 1000 // a snapped record
	micro := make([]record, len(rs))
	for i, r := range rs {
		r.ts = r.ts.Truncate(time.Microsecond)
		micro[i] = r
	}
	for _, c := range []struct {
		name  string
		write func(path string)
		want  []record
		lt    uint32
	}{
		{"micro.pcap", func(p string) { writePcap(t, p, false, layers.LinkTypeEthernet, rs) }, micro, 1},
		{"nano.pcap", func(p string) { writePcap(t, p, true, layers.LinkTypeEthernet, rs) }, rs, 1},
		{"raw.pcap", func(p string) { writePcap(t, p, false, layers.LinkTypeRaw, rs) }, micro, 101},
		{"capture.pcapng", func(p string) { writePcapng(t, p, layers.LinkTypeEthernet, rs) }, rs, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			c.write(path)
			got, lts, err := readAll(t, path)
			require.NoError(t, err)
			requireSameRecords(t, c.want, got)
			requireSameRecords(t, readPcapgo(t, path), got)
			for _, lt := range lts {
				require.Equal(t, c.lt, lt)
			}
		})
	}
}

// TestReadersMatchWireshark reads files that Wireshark's editcap wrote from
// a pcapgo capture: pcapng (with Wireshark's section and interface
// options), a nanosecond pcap and a microsecond one.
func TestReadersMatchWireshark(t *testing.T) {
	if _, err := exec.LookPath("editcap"); err != nil {
		t.Skip("editcap (Wireshark) is not installed: apt-get install tshark")
	}
	dir := t.TempDir()
	rs := records(0, 60)
	src := filepath.Join(dir, "src.pcap")
	writePcap(t, src, true, layers.LinkTypeEthernet, rs)
	for _, format := range []string{"pcapng", "nsecpcap", "pcap"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, format)
			cmd := exec.Command("editcap", "-F", format, src, out)
			b, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", b)
			got, _, err := readAll(t, out)
			require.NoError(t, err)
			want := rs
			if format == "pcap" {
				want = make([]record, len(rs))
				for i, r := range rs {
					r.ts = r.ts.Truncate(time.Microsecond)
					want[i] = r
				}
			}
			requireSameRecords(t, want, got)
		})
	}
}

func TestReaderGzip(t *testing.T) {
	dir := t.TempDir()
	rs := records(0, 30)
	plain := filepath.Join(dir, "a.pcapng")
	writePcapng(t, plain, layers.LinkTypeEthernet, rs)
	b, err := os.ReadFile(plain)
	require.NoError(t, err)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, err = zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	gz := filepath.Join(dir, "a.pcapng.gz")
	require.NoError(t, os.WriteFile(gz, z.Bytes(), 0o644))
	got, _, err := readAll(t, gz)
	require.NoError(t, err)
	requireSameRecords(t, rs, got)
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

func (f *ngFile) epb(ifc uint32, stamp uint64, caplen, length uint32, data []byte, opts ...[]byte) *ngFile {
	b := make([]byte, 20, 20+len(data))
	f.order.PutUint32(b, ifc)
	f.order.PutUint32(b[4:], uint32(stamp>>32))
	f.order.PutUint32(b[8:], uint32(stamp))
	f.order.PutUint32(b[12:], caplen)
	f.order.PutUint32(b[16:], length)
	b = append(b, data...)
	if len(opts) > 0 {
		b = append(b, make([]byte, pad4(len(data)))...)
		for _, o := range opts {
			b = append(b, o...)
		}
		b = append(b, 0, 0, 0, 0)
	}
	return f.block(ngBlockEPB, b)
}

// u32 is v in f's byte order, an option's value.
func (f *ngFile) u32(v uint32) []byte {
	b := make([]byte, 4)
	f.order.PutUint32(b, v)
	return b
}

func (f *ngFile) add(data []byte) *ngFile {
	return f.epb(0, 1_000_000, uint32(len(data)), uint32(len(data)), data)
}

func (f *ngFile) spb(length uint32, data []byte) *ngFile {
	b := make([]byte, 4, 4+len(data))
	f.order.PutUint32(b, length)
	return f.block(ngBlockSPB, append(b, data...))
}

// readBytes runs our reader over a file's bytes; size -1 reads it as a pipe.
func readBytes(b []byte, size int64, lim ringLimit) ([]Packet, error) {
	r, err := NewReader(bufio.NewReader(bytes.NewReader(b)), "test.cap", size, lim.opts())
	if err != nil {
		return nil, err
	}
	var ps []Packet
	for {
		var p Packet
		err := r.Next(&p)
		if err == io.EOF {
			return ps, nil
		}
		if err != nil {
			return ps, err
		}
		p.Data = bytes.Clone(p.Data)
		ps = append(ps, p)
	}
}

func TestReaderHandBuiltFiles(t *testing.T) {
	be, le := binary.BigEndian, binary.LittleEndian
	// Big-endian pcap, microsecond and nanosecond.
	for _, nano := range []bool{false, true} {
		f := newPcapFile(be, nano, 1).rec(100, 250, 3, 60, []byte{1, 2, 3}).add(frame(1, 64))
		ps, err := readBytes(f.buf.Bytes(), int64(f.buf.Len()), bigRing)
		require.NoError(t, err)
		require.Len(t, ps, 2)
		wantTS := time.Unix(100, 250_000)
		if nano {
			wantTS = time.Unix(100, 250)
		}
		require.True(t, wantTS.Equal(ps[0].Timestamp), "%v", ps[0].Timestamp)
		require.Equal(t, []byte{1, 2, 3}, ps[0].Data)
		require.Equal(t, 60, ps[0].Length)
		require.Equal(t, frame(1, 64), ps[1].Data)
	}
	// pcapng, big-endian, with a nanosecond if_tsresol, an if_tsoffset, a
	// binary resolution on a second interface, skipped blocks, a simple
	// packet block, and a second section in the other byte order.
	f := newNgFile(be)
	f.idb(1, 0, f.opt(ngOptTsresol, []byte{9}), f.opt(ngOptTsoffset, be.AppendUint64(nil, 1000)))
	f.idb(1, 100, f.opt(ngOptTsresol, []byte{0x80 | 10})) // 1/1024 s
	f.block(5, make([]byte, 20))                          // an interface statistics block
	f.epb(0, 2_500_000_001, 4, 64, []byte{9, 8, 7, 6})
	f.block(0x0BAD, []byte{1, 2, 3}) // unknown: skipped
	f.epb(1, 3*1024+512, 2, 2, []byte{5, 5})
	f.spb(150, frame(7, 150)) // caplen = min(150, snaplen 0 = none); 2 bytes of padding
	b := f.buf.Bytes()
	g := newNgFile(le)
	g.idb(1, 0).add(frame(8, 70))
	b = append(b, g.buf.Bytes()...)
	ps, err := readBytes(b, int64(len(b)), bigRing)
	require.NoError(t, err)
	require.Len(t, ps, 4)
	require.True(t, time.Unix(1002, 500_000_001).Equal(ps[0].Timestamp), "%v", ps[0].Timestamp)
	require.Equal(t, 64, ps[0].Length)
	require.True(t, time.Unix(3, 500_000_000).Equal(ps[1].Timestamp), "%v", ps[1].Timestamp)
	require.True(t, ps[1].Timestamp.Equal(ps[2].Timestamp), "a simple packet block has no timestamp: it takes the last one")
	require.Equal(t, frame(7, 150), ps[2].Data)
	require.Equal(t, 150, ps[2].Length)
	require.Equal(t, frame(8, 70), ps[3].Data)
	require.Equal(t, 4, ps[3].Number)
}

func TestReaderRefusesBadFiles(t *testing.T) {
	le := binary.LittleEndian
	ok := frame(1, 64)
	pcap := func() *pcapFile { return newPcapFile(le, false, 1).add(ok) }
	ng := func() *ngFile { return newNgFile(le).idb(1, 0).add(ok) }
	bytesOf := func(b *bytes.Buffer) []byte { return b.Bytes() }
	cut := func(b []byte, n int) []byte { return b[:len(b)-n] }
	huge := uint32(0xfffffff0)
	small := ringLimit{slots: 4, bufSize: 2048}

	for _, c := range []struct {
		name string
		file []byte
		pipe bool // unknown size
		lim  ringLimit
		want string // the whole error
	}{
		{name: "empty", file: nil, want: "test.cap: not a pcap or pcapng file: 0 bytes long"},
		{name: "text", file: []byte("<html>hello</html>"), want: "test.cap: not a pcap or pcapng file: starts with 3c 68 74 6d"},
		{name: "modified pcap", file: le.AppendUint32(nil, 0xa1b2cd34), want: "test.cap: not a pcap or pcapng file: starts with 34 cd b2 a1"},
		{name: "gzip garbage", file: []byte{0x1f, 0x8b, 0, 0}, want: "test.cap: gzip: unexpected EOF"},
		{name: "pcap header cut", file: bytesOf(&newPcapFile(le, false, 1).buf)[:20], want: "test.cap: truncated pcap file header: 20 of 24 bytes"},
		{name: "pcap version", file: func() []byte {
			b := bytes.Clone(bytesOf(&newPcapFile(le, false, 1).buf))
			b[4] = 3
			return b
		}(), want: "test.cap: pcap version 3.4 is not supported (want 2.4)"},
		{name: "record header cut", file: cut(bytesOf(&pcap().add(ok).buf), 64+9), want: "test.cap: packet 2: truncated record header: the file ends 7 bytes into its 16 bytes (at byte 104)"},
		{name: "record cut", file: cut(bytesOf(&pcap().add(ok).buf), 24), want: "test.cap: packet 2: truncated record: it holds 64 bytes, the file ends 40 bytes into it"},
		{name: "record cut, pipe", file: cut(bytesOf(&pcap().add(ok).buf), 24), pipe: true, want: "test.cap: packet 2: truncated record: it holds 64 bytes, the file ends 40 bytes into it"},
		{name: "caplen > len", file: bytesOf(&pcap().rec(1, 2, 64, 60, ok).buf), want: "test.cap: packet 2: corrupt record at byte 104: captured length 64 exceeds the original length 60"},
		{name: "huge caplen", file: bytesOf(&pcap().rec(1, 2, huge, huge, ok).buf), want: "test.cap: packet 2: truncated record: it holds 4294967280 bytes, the file ends 64 bytes into it"},
		{name: "huge caplen, pipe", file: bytesOf(&pcap().rec(1, 2, huge, huge, ok).buf), pipe: true,
			want: "test.cap: packet 2: a 4294967280-byte frame is larger than the memif ring can carry: it needs 2097152 buffers of 2048 bytes and the ring has 1024 slots (-ring-size 1024, -buffer-size 2048)"},
		{name: "jumbo on a small ring", file: bytesOf(&pcap().add(frame(2, 9014)).buf), lim: small,
			want: "test.cap: packet 2: a 9014-byte frame is larger than the memif ring can carry: it needs 5 buffers of 2048 bytes and the ring has 4 slots (-ring-size 4, -buffer-size 2048)"},

		{name: "pcapng byte order", file: func() []byte {
			b := bytes.Clone(bytesOf(&ng().buf))
			b[8] = 0
			return b
		}(), want: "test.cap: pcapng block at byte 0: section header with a bad byte-order magic 00 3c 2b 1a"},
		{name: "pcapng version", file: bytesOf(&(&ngFile{order: le}).shb(2, 0).buf), want: "test.cap: pcapng block at byte 0: pcapng version 2.0 is not supported (want 1.0)"},
		{name: "block length", file: bytesOf(&ng().blockLen(5, make([]byte, 8), 18).buf), want: "test.cap: pcapng block at byte 144 (after packet 1): block type 0x5 has an impossible total length 18"},
		{name: "short block", file: bytesOf(&ng().blockLen(5, nil, 8).buf), want: "test.cap: pcapng block at byte 144 (after packet 1): block type 0x5 has an impossible total length 8"},
		{name: "block cut", file: cut(bytesOf(&ng().add(ok).buf), 10), want: "test.cap: pcapng block at byte 144 (after packet 1): truncated block: 96 bytes long, the file ends 86 bytes into it"},
		{name: "block cut, pipe", file: cut(bytesOf(&ng().add(ok).buf), 10), pipe: true, want: "test.cap: packet 2: pcapng block at byte 144: truncated packet block"},
		{name: "trailer", file: func() []byte {
			b := bytes.Clone(bytesOf(&ng().buf))
			b[len(b)-4]++
			return b
		}(), want: "test.cap: packet 1: pcapng block at byte 48: block length 96 at its start but 97 at its end"},
		{name: "no interface", file: bytesOf(&newNgFile(le).add(ok).buf), want: "test.cap: packet 1: pcapng block at byte 28: interface 0 is not described in this section (it has 0)"},
		{name: "unknown interface", file: bytesOf(&ng().epb(5, 0, 64, 64, ok).buf), want: "test.cap: packet 2: pcapng block at byte 144: interface 5 is not described in this section (it has 1)"},
		{name: "caplen past block", file: bytesOf(&ng().epb(0, 0, 200, 200, ok).buf), want: "test.cap: packet 2: pcapng block at byte 144: captured length 200 does not fit its 96-byte block"},
		{name: "pcapng caplen > len", file: bytesOf(&ng().epb(0, 0, 64, 10, ok).buf), want: "test.cap: packet 2: pcapng block at byte 144: captured length 64 exceeds the original length 10"},
		{name: "spb first", file: bytesOf(&newNgFile(le).spb(4, []byte{1, 2, 3, 4}).buf), want: "test.cap: packet 1: pcapng block at byte 28: simple packet block before any interface description"},
		{name: "tsresol 2^-64", file: func() []byte {
			f := newNgFile(le)
			return bytesOf(&f.idb(1, 0, f.opt(ngOptTsresol, []byte{0x80 | 64})).add(ok).buf)
		}(), want: "test.cap: pcapng block at byte 28: if_tsresol 0xc0 is outside what a 64-bit timestamp can count"},
		{name: "tsresol 10^-20", file: func() []byte {
			f := newNgFile(le)
			return bytesOf(&f.idb(1, 0, f.opt(ngOptTsresol, []byte{20})).add(ok).buf)
		}(), want: "test.cap: pcapng block at byte 28: if_tsresol 0x14 is outside what a 64-bit timestamp can count"},
		{name: "option past block", file: func() []byte {
			f := newNgFile(le)
			o := f.opt(2, []byte("eth0"))
			le.PutUint16(o[2:], 200)
			return bytesOf(&f.idb(1, 0, o).buf)
		}(), want: "test.cap: pcapng block at byte 28: interface option 2 runs past its block"},
		{name: "short idb", file: bytesOf(&newNgFile(le).block(ngBlockIDB, []byte{1, 0, 0, 0}).buf), want: "test.cap: pcapng block at byte 28: interface description block too short (16 bytes)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			size := int64(len(c.file))
			if c.pipe {
				size = -1
			}
			lim := c.lim
			if lim.slots == 0 {
				lim = bigRing
			}
			_, err := readBytes(c.file, size, lim)
			require.EqualError(t, err, c.want)
			var ie *Error
			require.ErrorAs(t, err, &ie)
		})
	}
}

func TestReaderDoesNotAllocatePerPacket(t *testing.T) {
	dir := t.TempDir()
	rs := records(0, 400)
	for _, name := range []string{"a.pcap", "a.pcapng"} {
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, "ng") {
			writePcapng(t, path, layers.LinkTypeEthernet, rs)
		} else {
			writePcap(t, path, false, layers.LinkTypeEthernet, rs)
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		r, err := NewReader(bufio.NewReader(bytes.NewReader(b)), name, int64(len(b)), bigRing.opts())
		require.NoError(t, err)
		var p Packet
		require.NoError(t, r.Next(&p))
		require.NoError(t, r.Next(&p)) // the 9014-byte frame: the buffer has grown
		allocs := testing.AllocsPerRun(300, func() {
			if err := r.Next(&p); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, name)
	}
}

// FuzzCaptureReader feeds arbitrary bytes to the readers: they must end in
// io.EOF or an *Error, never panic, and never hand out a packet longer
// than the ring allows.
func FuzzCaptureReader(f *testing.F) {
	le, be := binary.LittleEndian, binary.BigEndian
	f.Add(newPcapFile(le, false, 1).add(frame(1, 64)).add(frame(2, 9014)).buf.Bytes())
	f.Add(newPcapFile(be, true, 101).add(frame(1, 20)).buf.Bytes())
	g := newNgFile(le)
	f.Add(g.idb(1, 0, g.opt(ngOptTsresol, []byte{9})).add(frame(1, 64)).spb(64, frame(2, 64)).buf.Bytes())
	h := newNgFile(be)
	f.Add(h.idb(1, 64, h.opt(ngOptTsoffset, make([]byte, 8))).epb(0, 1, 3, 9, []byte{1, 2, 3}).buf.Bytes())
	// Issue 10's files: FCS bits, a 300 MiB simple packet block, two
	// sections, a record claiming 300 MiB.
	f.Add(newPcapFile(le, false, 0x14000001).add(frame(1, 66)).buf.Bytes())
	f.Add(newNgFile(le).idb(1, 0).spb(300<<20, frame(1, 64)).buf.Bytes())
	f.Add(append(newNgFile(le).idb(1, 0).add(frame(1, 64)).buf.Bytes(), newNgFile(be).idb(101, 0).add(frame(2, 20)).buf.Bytes()...))
	f.Add(newPcapFile(le, false, 1).add(frame(1, 64)).rec(1, 2, 300<<20, 300<<20, frame(2, 64)).buf.Bytes())
	lim := ringLimit{slots: 8, bufSize: 1024}
	f.Fuzz(func(t *testing.T, b []byte) {
		for i, size := range []int64{int64(len(b)), -1, -1} {
			opts := lim.opts()
			if i == 2 {
				opts = nil // memifdump -r -: no limit but the input's bytes
			}
			r, err := NewReader(bufio.NewReader(bytes.NewReader(b)), "fuzz", size, opts)
			if err != nil {
				var ie *Error
				if !errors.As(err, &ie) {
					t.Fatalf("open: %T %v", err, err)
				}
				continue
			}
			var p Packet
			for range 10000 {
				err := r.Next(&p)
				if err == io.EOF {
					break
				}
				if err != nil {
					var ie *Error
					if !errors.As(err, &ie) {
						t.Fatalf("next: %T %v", err, err)
					}
					break
				}
				if (opts != nil && len(p.Data) > 8*1024) || len(p.Data) > p.Length {
					t.Fatalf("packet %d: %d bytes captured of %d", p.Number, len(p.Data), p.Length)
				}
				if p.FCSLen < 0 || p.FCSLen > len(p.Data) {
					t.Fatalf("packet %d: FCS of %d bytes in %d", p.Number, p.FCSLen, len(p.Data))
				}
			}
		}
	})
}

// TestReaderIssue10Files: the files memifdump -r trusted (issue 10, item
// 4), with no length check of the caller's: each is a named error, and a
// claimed length costs no more memory than the bytes that came.
func TestReaderIssue10Files(t *testing.T) {
	le := binary.LittleEndian
	ok := frame(1, 64)
	const mib300 = 300 << 20
	epb4G := func() []byte {
		// An EPB of 96 bytes (64 of data) claiming a 4 GiB capture.
		f := newNgFile(le).idb(1, 0)
		return f.epb(0, 0, 0xffffffff, 0xffffffff, ok).buf.Bytes()
	}()
	spb300 := newNgFile(le).idb(1, 0).spb(mib300, ok).buf.Bytes()
	odd := newNgFile(le).idb(1, 0).add(ok).blockLen(6, make([]byte, 30), 42).buf.Bytes()
	pcap300 := newPcapFile(le, false, 1).add(ok).rec(1, 2, mib300, mib300, ok).buf.Bytes()
	ngCut := newNgFile(le).idb(1, 0).add(ok).add(ok).buf.Bytes()
	ngCut = ngCut[:len(ngCut)-50]
	for _, c := range []struct {
		name string
		file []byte
		n    int // packets read before the error
		want string
	}{
		{"epb 4 GiB", epb4G, 0, "test.cap: packet 1: pcapng block at byte 48: captured length 4294967295 does not fit its 96-byte block"},
		{"spb 300 MiB", spb300, 0, "test.cap: packet 1: pcapng block at byte 48: simple packet block of 80 bytes cannot hold the 314572800 bytes it claims (original length 314572800, snap length 0)"},
		{"block length not a multiple of 4", odd, 1, "test.cap: pcapng block at byte 144 (after packet 1): block type 0x6 has an impossible total length 42"},
		{"pcap second record 300 MiB", pcap300, 1, "test.cap: packet 2: truncated record: it holds 314572800 bytes, the file ends 64 bytes into it"},
		{"pcapng cut short", ngCut, 1, "test.cap: pcapng block at byte 144 (after packet 1): truncated block: 96 bytes long, the file ends 46 bytes into it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, size := range []int64{int64(len(c.file)), -1} {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				r, err := NewReader(bytes.NewReader(c.file), "test.cap", size, nil)
				require.NoError(t, err)
				var p Packet
				n := 0
				for err = r.Next(&p); err == nil; err = r.Next(&p) {
					n++
				}
				runtime.ReadMemStats(&after)
				require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "size %d: allocated for a claim", size)
				require.Equal(t, c.n, n, "size %d", size)
				var fe *Error
				require.ErrorAs(t, err, &fe, "size %d", size)
				if size >= 0 || c.name == "epb 4 GiB" || c.name == "spb 300 MiB" || c.name == "block length not a multiple of 4" {
					require.EqualError(t, err, c.want, "size %d", size)
				}
				require.NotEqual(t, 0, fe.Packet+int(len(fe.File)), "names the file")
			}
		})
	}
}

func TestReaderLinkTypes(t *testing.T) {
	le := binary.LittleEndian
	ok := frame(1, 64)
	read := func(b []byte) (uint32, []Packet) {
		r, err := NewReader(bytes.NewReader(b), "x", int64(len(b)), nil)
		require.NoError(t, err)
		lt, _ := r.LinkType()
		var ps []Packet
		var p Packet
		for err = r.Next(&p); err == nil; err = r.Next(&p) {
			p.Data = bytes.Clone(p.Data)
			ps = append(ps, p)
		}
		require.ErrorIs(t, err, io.EOF)
		return lt, ps
	}
	lt, ps := read(newPcapFile(le, false, 257).add(ok).buf.Bytes())
	require.EqualValues(t, 257, lt)
	require.EqualValues(t, 257, ps[0].LinkType)
	// 0x14000001: Ethernet, FCS present, 1 16-bit word of it (libpcap).
	lt, ps = read(newPcapFile(le, false, 0x14000001).add(ok).buf.Bytes())
	require.EqualValues(t, 1, lt)
	require.EqualValues(t, 1, ps[0].LinkType)
	require.Equal(t, 2, ps[0].FCSLen)
	lt, ps = read(newPcapFile(le, false, 0x44000001).add(ok).buf.Bytes())
	require.EqualValues(t, 1, lt)
	require.Equal(t, 8, ps[0].FCSLen)
	// Snap length 0, and a record longer than the snap length: read.
	f := newPcapFile(le, false, 1)
	le.PutUint32(f.buf.Bytes()[16:], 0)
	_, ps = read(f.add(ok).buf.Bytes())
	require.Len(t, ps, 1)
	f = newPcapFile(le, false, 1)
	le.PutUint32(f.buf.Bytes()[16:], 10)
	_, ps = read(f.add(ok).buf.Bytes())
	require.Equal(t, ok, ps[0].Data)
	// Two sections, the second of another link type, in the other order.
	b := newNgFile(le).idb(1, 0).add(ok).buf.Bytes()
	b = append(b, newNgFile(binary.BigEndian).idb(101, 0).idb(228, 0).epb(1, 0, 20, 20, ok[:20]).buf.Bytes()...)
	lt, ps = read(b)
	require.EqualValues(t, 1, lt)
	require.Len(t, ps, 2)
	require.EqualValues(t, 228, ps[1].LinkType)
	require.Equal(t, 1, ps[1].Interface)
	require.Equal(t, 1, ps[1].Section)
	require.Equal(t, 2, ps[1].Number)
}

// The memif tap records each frame's queue (epb_queue) and direction
// (epb_flags) in pcapng; the reader hands them over, in either byte
// order, and says -1 and unknown when a file has none.
func TestReaderPacketOptions(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		f := newNgFile(order).idb(1, 0)
		f.epb(0, 1, 5, 5, []byte("hello"), f.opt(ngOptEPBFlags, f.u32(1)), f.opt(ngOptEPBQueue, f.u32(3)))
		f.epb(0, 2, 4, 4, []byte("four"), f.opt(1, []byte("a comment")), f.opt(ngOptEPBFlags, f.u32(0x2|0x1c)))
		f.epb(0, 3, 3, 3, []byte("abc"))
		f.epb(0, 4, 2, 2, []byte("hi"), f.opt(ngOptEPBQueue, f.u32(254)), f.opt(ngOptEPBFlags, f.u32(1)))
		f.spb(3, []byte("spb"))
		ps, err := readBytes(f.buf.Bytes(), int64(f.buf.Len()), ringLimit{16, 2048})
		require.NoError(t, err)
		type qd struct {
			data  string
			queue int
			dir   Direction
		}
		var got []qd
		for _, p := range ps {
			got = append(got, qd{string(p.Data), p.Queue, p.Direction})
		}
		require.Equal(t, []qd{
			{"hello", 3, DirectionInbound}, {"four", -1, DirectionOutbound}, {"abc", -1, DirectionUnknown},
			{"hi", 254, DirectionInbound}, {"spb", -1, DirectionUnknown},
		}, got, "%v", order)

		// An option that runs past its block is an error naming it.
		bad := newNgFile(order).idb(1, 0)
		opt := bad.opt(ngOptEPBQueue, bad.u32(1))
		order.PutUint16(opt[2:], 40)
		bad.epb(0, 1, 1, 1, []byte("x"), opt)
		_, err = readBytes(bad.buf.Bytes(), int64(bad.buf.Len()), ringLimit{16, 2048})
		require.ErrorContains(t, err, "packet option 6 runs past its block")
	}
	// pcap has neither.
	var p Packet
	f := newPcapFile(binary.LittleEndian, false, 1).add([]byte("pcap"))
	r, err := NewReader(bytes.NewReader(f.buf.Bytes()), "x.pcap", int64(f.buf.Len()), nil)
	require.NoError(t, err)
	require.NoError(t, r.Next(&p))
	require.Equal(t, -1, p.Queue)
	require.Equal(t, DirectionUnknown, p.Direction)
}
