// Package capfile reads capture files safely: pcap (microsecond and
// nanosecond, either byte order) and pcapng (any number of sections and
// interfaces), told apart by their first bytes, never by the name; either
// may be gzip-compressed.
//
// The files are treated as hostile input. gopacket v1.1.19's pcapgo readers
// trust them: NgReader divides by zero on an if_tsresol of 2^-64 (a panic),
// allocates whatever an interface's snap length or a block's capture length
// claims (up to 4 GiB) before reading a byte, reads a capture length longer
// than its block into the next one, and returns a bare io.EOF for a file cut
// short; Reader narrows the 32-bit link type to 8 bits, so a LINKTYPE 257
// file reads as Ethernet. This package checks every length against its
// block and against what is left of the file before allocating; on a stream
// of unknown size (a pipe, gzip) it never allocates more than about twice
// the bytes that actually arrived. It does not allocate per packet.
//
// Next returns io.EOF only at a clean end of the input: between two
// records, or two blocks. Anything else wrong with the input (not a
// capture, cut short, corrupt) is an *Error naming the file and, when it
// concerns one, the packet.
package capfile

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"time"
)

// Packet is one record of a capture file.
type Packet struct {
	// Data is the captured bytes. It is valid until the next call to Next.
	Data []byte
	// Timestamp is when it was captured. A pcapng simple packet block has
	// none and takes the previous packet's.
	Timestamp time.Time
	// Length is its original length on the wire, >= len(Data) (Data ends
	// early when the capture was cut by a snap length).
	Length int
	// LinkType is the LINKTYPE_ value of the interface it was captured on
	// (https://www.tcpdump.org/linktypes.html), without the FCS bits a pcap
	// header may carry in the upper bits of the field.
	LinkType uint32
	// FCSLen is the number of frame check sequence bytes at the end of Data
	// (those captured of them), as the pcap header's link-type field says;
	// usually 0. pcapng files report 0 here (if_fcslen is not read).
	FCSLen int
	// Interface is the pcapng interface index within its section (0 for
	// pcap).
	Interface int
	// Section counts pcapng section headers, from 0 (0 for pcap).
	Section int
	// Number is the 1-based record number within the file.
	Number int
	// Queue is the queue the packet was captured on, from a pcapng
	// enhanced packet block's epb_queue option (the memif tap records
	// each frame's memif queue there), or -1 when the file does not say.
	Queue int
	// Direction is the direction bits of a pcapng epb_flags option
	// (DirectionInbound, DirectionOutbound), 0 when unknown.
	Direction Direction
}

// Direction is a packet's direction as pcapng's epb_flags bits 0-1 say.
type Direction uint8

// The directions of epb_flags.
const (
	DirectionUnknown  Direction = 0
	DirectionInbound  Direction = 1
	DirectionOutbound Direction = 2
)

// Error is a fault in a capture file: not a capture, cut short, corrupt, or
// refused by Options.CheckLength. Packet is the 1-based record number it
// concerns, 0 for the file as a whole (its header, or a block that is not a
// packet).
type Error struct {
	File   string
	Packet int
	Msg    string
}

func (e *Error) Error() string {
	if e.Packet > 0 {
		return fmt.Sprintf("%s: packet %d: %s", e.File, e.Packet, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Options adjust a Reader. The zero value is the default.
type Options struct {
	// CheckLength, when not nil, is called with each record's captured
	// length before its bytes are read (or allocated for). A non-empty
	// return refuses the record: Next returns an *Error with that message.
	CheckLength func(caplen uint64) string
	// BufferSize is the read-ahead on the input; 0 means 64 KiB.
	BufferSize int
}

// format is one file format's reader.
type format interface {
	next(p *Packet) error
	linkType() (lt uint32, ok bool)
}

// Reader reads the packets of one capture file in order. It is not safe
// for concurrent use.
type Reader struct {
	f      format
	closer io.Closer
}

// NewReader detects the format of r (named name in errors; size bytes long,
// or -1 when unknown: a pipe, a socket) and reads its header. A size that is
// known lets truncation be reported before reading; a wrong size gives
// wrong errors.
func NewReader(r io.Reader, name string, size int64, opts *Options) (*Reader, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 64 << 10
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 16 {
		br = bufio.NewReaderSize(r, o.BufferSize)
	}
	f, err := newFormat(name, br, size, o)
	if err != nil {
		return nil, err
	}
	return &Reader{f: f}, nil
}

// Open opens a capture file; the name "-" is standard input (read as a
// stream). Close closes the file.
func Open(name string, opts *Options) (*Reader, error) {
	var file *os.File
	size := int64(-1)
	if name == "-" {
		file = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			if pe, ok := err.(*os.PathError); ok {
				err = pe.Err
			}
			return nil, &Error{File: name, Msg: err.Error()}
		}
		file = f
		st, err := f.Stat()
		if err == nil && st.IsDir() {
			f.Close()
			return nil, &Error{File: name, Msg: "is a directory"}
		}
		if err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	r, err := NewReader(file, name, size, opts)
	if err != nil {
		if file != os.Stdin {
			file.Close()
		}
		return nil, err
	}
	if file != os.Stdin {
		r.closer = file
	}
	return r, nil
}

// Next reads the next packet into p. It returns io.EOF at a clean end of
// the file and an *Error for anything else wrong with it. p.Data is valid
// until the next call.
func (r *Reader) Next(p *Packet) error { return r.f.next(p) }

// LinkType is the file's link type: the pcap header's (FCS bits masked
// off), or the first pcapng interface's; ok is false for a pcapng file
// with no interface before its first packet (or none at all). A pcapng
// file may describe interfaces of other link types later: each Packet
// carries its own.
func (r *Reader) LinkType() (lt uint32, ok bool) { return r.f.linkType() }

// Close closes the file Open opened; it does nothing for NewReader's.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	return r.closer.Close()
}

// Magic numbers, as the first four bytes of a file read little-endian.
const (
	pcapMagicMicro   = 0xa1b2c3d4
	pcapMagicNano    = 0xa1b23c4d
	pcapngBlockSHB   = 0x0a0d0d0a // palindromic: the same in both byte orders
	pcapngByteOrder  = 0x1a2b3c4d
	gzipMagic        = 0x8b1f // the first two bytes, little-endian
	pcapHeaderSize   = 24
	linkTypeMask     = 0x03ffffff // libpcap's LT_LINKTYPE
	fcsPresent       = 0x04000000 // libpcap's LT_FCS_LENGTH_PRESENT
	pcapRecordHeader = 16
)

// src is the byte stream of one file, with the position and (for a regular
// file) the size, so that lengths are checked against what is left before
// anything is allocated for them.
type src struct {
	name string
	br   *bufio.Reader
	off  int64
	size int64 // -1 when unknown (a pipe, or a gzip stream)
}

// fits reports whether n more bytes can be in the file.
func (s *src) fits(n int64) bool {
	return s.size < 0 || n <= s.size-s.off
}

// read fills b. A short read is io.ErrUnexpectedEOF, or io.EOF when not
// one byte was there.
func (s *src) read(b []byte) error {
	n, err := io.ReadFull(s.br, b)
	s.off += int64(n)
	return err
}

// readData reads n bytes into *buf (grown as needed) and returns them.
// When the size of the input is unknown, a large n is read in steps that
// grow with what arrived, so that a record claiming 4 GiB in a stream that
// holds a few bytes costs a few bytes, not 4 GiB.
func (s *src) readData(buf *[]byte, n uint64) ([]byte, error) {
	const step = 1 << 20
	if n <= uint64(cap(*buf)) {
		b := (*buf)[:n]
		return b, s.read(b)
	}
	if s.size >= 0 || n <= step {
		*buf = make([]byte, n)
		return *buf, s.read(*buf)
	}
	b := (*buf)[:0]
	for uint64(len(b)) < n {
		grow := min(n-uint64(len(b)), uint64(max(len(b), step)))
		b = append(b, make([]byte, grow)...)
		if err := s.read(b[uint64(len(b))-grow:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			*buf = b[:0]
			return nil, err
		}
	}
	*buf = b
	return b, nil
}

func checkLen(f func(uint64) string, n uint64) string {
	if f == nil {
		return ""
	}
	return f(n)
}

func (s *src) skip(n int64) error {
	for n > 0 {
		chunk := int(min(n, 1<<30))
		d, err := s.br.Discard(chunk)
		s.off += int64(d)
		n -= int64(d)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// newFormat detects the format of the stream br (of size bytes, -1 if
// unknown) and reads its header.
func newFormat(name string, br *bufio.Reader, size int64, o Options) (format, error) {
	lim := o.CheckLength
	s := &src{name: name, br: br, size: size}
	head, err := br.Peek(4)
	if len(head) >= 2 && binary.LittleEndian.Uint16(head) == gzipMagic {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &Error{File: name, Msg: fmt.Sprintf("gzip: %v", err)}
		}
		s.br = bufio.NewReaderSize(zr, br.Size())
		s.size = -1
		if head, err = s.br.Peek(4); err != nil && len(head) < 4 {
			return nil, notCapture(name, head, "gzip-compressed ")
		}
	} else if err != nil {
		return nil, notCapture(name, head, "")
	}
	switch magic := binary.LittleEndian.Uint32(head); magic {
	case pcapMagicMicro, pcapMagicNano, bits.ReverseBytes32(pcapMagicMicro), bits.ReverseBytes32(pcapMagicNano):
		return newPcapReader(s, lim)
	case pcapngBlockSHB:
		return newNgReader(s, lim)
	}
	return nil, notCapture(name, head, "")
}

func notCapture(name string, head []byte, what string) error {
	if len(head) < 4 {
		return &Error{File: name, Msg: fmt.Sprintf("not a pcap or pcapng file: %s%d bytes long", what, len(head))}
	}
	return &Error{File: name, Msg: fmt.Sprintf("not a pcap or pcapng file: %sstarts with % x", what, head)}
}

// pcapReader reads the classic libpcap format.
type pcapReader struct {
	s     *src
	order binary.ByteOrder
	nano  bool
	lt    uint32
	fcs   int // FCS bytes at the end of each frame
	lim   func(uint64) string
	hdr   [pcapRecordHeader]byte
	buf   []byte
	n     int
}

func newPcapReader(s *src, lim func(uint64) string) (*pcapReader, error) {
	var h [pcapHeaderSize]byte
	if err := s.read(h[:]); err != nil {
		return nil, &Error{File: s.name, Msg: fmt.Sprintf("truncated pcap file header: %d of %d bytes", s.off, pcapHeaderSize)}
	}
	r := &pcapReader{s: s, order: binary.LittleEndian, lim: lim}
	magic := binary.LittleEndian.Uint32(h[:4])
	if magic != pcapMagicMicro && magic != pcapMagicNano {
		r.order = binary.BigEndian
		magic = bits.ReverseBytes32(magic)
	}
	r.nano = magic == pcapMagicNano
	major, minor := r.order.Uint16(h[4:]), r.order.Uint16(h[6:])
	if major != 2 {
		return nil, &Error{File: s.name, Msg: fmt.Sprintf("pcap version %d.%d is not supported (want 2.4)", major, minor)}
	}
	// The field's upper bits may say that frames end in an FCS, and how
	// long it is (libpcap's LT_FCS_LENGTH_PRESENT and LT_FCS_LENGTH: a
	// count of 16-bit words in the top 4 bits); the link type is the rest.
	field := r.order.Uint32(h[20:])
	r.lt = field & linkTypeMask
	if field&fcsPresent != 0 {
		r.fcs = int(field>>28) * 2
	}
	return r, nil
}

func (r *pcapReader) linkType() (uint32, bool) { return r.lt, true }

func (r *pcapReader) next(p *Packet) error {
	s := r.s
	num := r.n + 1
	bad := func(format string, args ...any) error {
		return &Error{File: s.name, Packet: num, Msg: fmt.Sprintf(format, args...)}
	}
	start := s.off
	if err := s.read(r.hdr[:]); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return bad("truncated record header: the file ends %d bytes into its %d bytes (at byte %d)", s.off-start, pcapRecordHeader, start)
		}
		return bad("read: %v", err)
	}
	r.n = num
	sec, frac := r.order.Uint32(r.hdr[0:]), r.order.Uint32(r.hdr[4:])
	caplen, length := r.order.Uint32(r.hdr[8:]), r.order.Uint32(r.hdr[12:])
	if caplen > length {
		return bad("corrupt record at byte %d: captured length %d exceeds the original length %d", start, caplen, length)
	}
	if !s.fits(int64(caplen)) {
		return bad("truncated record: it holds %d bytes, the file ends %d bytes into it", caplen, s.size-s.off)
	}
	if msg := checkLen(r.lim, uint64(caplen)); msg != "" {
		return bad("%s", msg)
	}
	data, err := s.readData(&r.buf, uint64(caplen))
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return bad("truncated record: it holds %d bytes, the file ends %d bytes into it", caplen, s.off-start-pcapRecordHeader)
		}
		return bad("read: %v", err)
	}
	nsec := int64(frac)
	if !r.nano {
		nsec *= 1000
	}
	*p = Packet{Data: data, Timestamp: time.Unix(int64(sec), nsec), Length: int(length), LinkType: r.lt, FCSLen: min(r.fcs, len(data)), Number: num, Queue: -1}
	return nil
}

// pcapng block types (pcapng spec §4, §11.1).
const (
	ngBlockIDB = 0x00000001
	ngBlockPB  = 0x00000002 // obsolete Packet Block
	ngBlockSPB = 0x00000003
	ngBlockEPB = 0x00000006

	ngOptEnd      = 0
	ngOptTsresol  = 9
	ngOptTsoffset = 14

	// ngMaxMetaBlock bounds the blocks read whole into memory (section and
	// interface headers): their options are names and comments.
	ngMaxMetaBlock = 1 << 20
)

type ngInterface struct {
	linkType uint32
	snapLen  uint32
	units    uint64 // timestamp units per second
	offset   int64  // if_tsoffset, seconds
}

// ngReader reads pcapng: sections, interfaces, and the packets in enhanced,
// simple and (obsolete) packet blocks; every other block is skipped.
type ngReader struct {
	s       *src
	order   binary.ByteOrder
	ifaces  []ngInterface
	firstLT uint32
	haveLT  bool
	lim     func(uint64) string
	hdr     [32]byte
	meta    []byte
	buf     []byte
	n       int
	section int // sections seen, minus 1
	shbs    int
	lastTS  time.Time
	// pending is a packet block whose header was read by the look-ahead
	// in newNgReader, to be returned first.
	pendingType, pendingLen uint32
	pendingAt               int64
}

func newNgReader(s *src, lim func(uint64) string) (*ngReader, error) {
	r := &ngReader{s: s, order: binary.LittleEndian, lim: lim}
	// Read up to the first interface (or packet), so that the file's link
	// type is known before anything is sent.
	for {
		start := s.off
		typ, length, err := r.blockHeader()
		if err != nil {
			if err == io.EOF {
				return r, nil // no packets at all
			}
			return nil, err
		}
		switch typ {
		case ngBlockEPB, ngBlockSPB, ngBlockPB:
			r.pendingType, r.pendingLen, r.pendingAt = typ, length, start
			return r, nil
		}
		if err := r.metaBlock(typ, length, start); err != nil {
			return nil, err
		}
		if r.haveLT {
			return r, nil
		}
	}
}

func (r *ngReader) linkType() (uint32, bool) { return r.firstLT, r.haveLT }

func (r *ngReader) blockErr(start int64, format string, args ...any) error {
	where := fmt.Sprintf("pcapng block at byte %d", start)
	if r.n > 0 {
		where += fmt.Sprintf(" (after packet %d)", r.n)
	}
	return &Error{File: r.s.name, Msg: where + ": " + fmt.Sprintf(format, args...)}
}

// blockHeader reads a block's type and total length (and, for a section
// header, its byte-order magic, which sets the order of everything in the
// section) and checks the length against the file. io.EOF means a clean
// end: no byte of a new block.
func (r *ngReader) blockHeader() (typ, length uint32, err error) {
	s := r.s
	start := s.off
	if err := s.read(r.hdr[:8]); err != nil {
		if err == io.EOF {
			return 0, 0, io.EOF
		}
		return 0, 0, r.truncated(start, err)
	}
	if binary.LittleEndian.Uint32(r.hdr[:4]) == pcapngBlockSHB {
		if err := s.read(r.hdr[8:12]); err != nil {
			return 0, 0, r.truncated(start, err)
		}
		switch {
		case binary.LittleEndian.Uint32(r.hdr[8:]) == pcapngByteOrder:
			r.order = binary.LittleEndian
		case binary.BigEndian.Uint32(r.hdr[8:]) == pcapngByteOrder:
			r.order = binary.BigEndian
		default:
			return 0, 0, r.blockErr(start, "section header with a bad byte-order magic % x", r.hdr[8:12])
		}
	}
	typ, length = r.order.Uint32(r.hdr[:4]), r.order.Uint32(r.hdr[4:8])
	minLen := uint32(12)
	if typ == pcapngBlockSHB {
		minLen = 28
	}
	if length < minLen || length%4 != 0 {
		return 0, 0, r.blockErr(start, "block type %#x has an impossible total length %d", typ, length)
	}
	if !s.fits(int64(length) - (s.off - start)) {
		return 0, 0, r.blockErr(start, "truncated block: %d bytes long, the file ends %d bytes into it", length, s.size-start)
	}
	return typ, length, nil
}

func (r *ngReader) truncated(start int64, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.blockErr(start, "truncated block: the file ends %d bytes into it", r.s.off-start)
	}
	return r.blockErr(start, "read: %v", err)
}

// trailer reads and checks the block's closing copy of its total length.
func (r *ngReader) trailer(start int64, length uint32) error {
	if err := r.s.read(r.hdr[:4]); err != nil {
		return r.truncated(start, err)
	}
	if got := r.order.Uint32(r.hdr[:4]); got != length {
		return r.blockErr(start, "block length %d at its start but %d at its end", length, got)
	}
	return nil
}

// metaBlock handles a block that is not a packet: a section header, an
// interface description, or anything else (skipped).
func (r *ngReader) metaBlock(typ, length uint32, start int64) error {
	s := r.s
	body := int64(length) - (s.off - start) - 4 // what is left before the trailer
	switch typ {
	case pcapngBlockSHB, ngBlockIDB:
	default:
		if err := s.skip(body); err != nil {
			return r.truncated(start, err)
		}
		return r.trailer(start, length)
	}
	if body > ngMaxMetaBlock {
		return r.blockErr(start, "implausible %d-byte header block", length)
	}
	if cap(r.meta) < int(body) {
		r.meta = make([]byte, body)
	}
	b := r.meta[:body]
	if err := s.read(b); err != nil {
		return r.truncated(start, err)
	}
	if err := r.trailer(start, length); err != nil {
		return err
	}
	if typ == pcapngBlockSHB {
		// version (2+2 bytes), section length (8), options
		if major := r.order.Uint16(b); major != 1 {
			return r.blockErr(start, "pcapng version %d.%d is not supported (want 1.0)", major, r.order.Uint16(b[2:]))
		}
		r.ifaces = r.ifaces[:0]
		if r.shbs++; r.shbs > 1 {
			r.section++
		}
		return nil
	}
	if len(b) < 8 {
		return r.blockErr(start, "interface description block too short (%d bytes)", length)
	}
	ifc := ngInterface{linkType: uint32(r.order.Uint16(b)), snapLen: r.order.Uint32(b[4:]), units: 1e6}
	opts := b[8:]
	for len(opts) >= 4 {
		code, olen := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == ngOptEnd {
			break
		}
		padded := (olen + 3) &^ 3
		if 4+padded > len(opts) {
			return r.blockErr(start, "interface option %d runs past its block", code)
		}
		v := opts[4 : 4+olen]
		switch code {
		case ngOptTsresol:
			if olen < 1 {
				return r.blockErr(start, "empty if_tsresol option")
			}
			units, ok := tsUnits(v[0])
			if !ok {
				return r.blockErr(start, "if_tsresol %#x is outside what a 64-bit timestamp can count", v[0])
			}
			ifc.units = units
		case ngOptTsoffset:
			if olen != 8 {
				return r.blockErr(start, "if_tsoffset option of %d bytes (want 8)", olen)
			}
			ifc.offset = int64(r.order.Uint64(v))
		}
		opts = opts[4+padded:]
	}
	if len(r.ifaces) >= 1<<16 {
		return r.blockErr(start, "more than 65536 interfaces in one section")
	}
	r.ifaces = append(r.ifaces, ifc)
	if !r.haveLT {
		r.firstLT, r.haveLT = ifc.linkType, true
	}
	return nil
}

// tsUnits decodes if_tsresol: 10^-n seconds, or 2^-n with the top bit set.
func tsUnits(v byte) (uint64, bool) {
	n := uint(v & 0x7f)
	if v&0x80 != 0 {
		if n > 63 {
			return 0, false
		}
		return 1 << n, true
	}
	if n > 19 {
		return 0, false
	}
	u := uint64(1)
	for range n {
		u *= 10
	}
	return u, true
}

func (r *ngReader) next(p *Packet) error {
	s := r.s
	for {
		var typ, length uint32
		var start int64
		if r.pendingLen != 0 {
			typ, length, start = r.pendingType, r.pendingLen, r.pendingAt
			r.pendingLen = 0
		} else {
			start = s.off
			var err error
			if typ, length, err = r.blockHeader(); err != nil {
				return err
			}
		}
		switch typ {
		case ngBlockEPB, ngBlockPB, ngBlockSPB:
			return r.packetBlock(p, typ, length, start)
		}
		if err := r.metaBlock(typ, length, start); err != nil {
			return err
		}
	}
}

// packetBlock reads an enhanced, simple or obsolete packet block whose
// type and length have been read.
func (r *ngReader) packetBlock(p *Packet, typ, length uint32, start int64) error {
	s := r.s
	num := r.n + 1
	r.n = num
	bad := func(format string, args ...any) error {
		return &Error{File: s.name, Packet: num, Msg: fmt.Sprintf("pcapng block at byte %d: ", start) + fmt.Sprintf(format, args...)}
	}
	body := int64(length) - 12 // between the length and the trailer
	fixed := int64(20)
	if typ == ngBlockSPB {
		fixed = 4
	}
	if body < fixed {
		return bad("packet block too short (%d bytes)", length)
	}
	if err := s.read(r.hdr[:fixed]); err != nil {
		return bad("truncated packet block")
	}
	b := r.hdr[:fixed]
	var ifc *ngInterface
	var ifcIndex int
	var caplen, origlen uint64
	ts := r.lastTS
	if typ == ngBlockSPB {
		// No interface id, no timestamp, no capture length: interface 0,
		// the block's room, bounded by that interface's snap length.
		if len(r.ifaces) == 0 {
			return bad("simple packet block before any interface description")
		}
		ifc = &r.ifaces[0]
		ifcIndex = 0
		// The block holds the original length cut to the snap length (0:
		// none), padded: a block with room for less is corrupt, as
		// libpcap says, not a shorter capture.
		origlen = uint64(r.order.Uint32(b))
		caplen = origlen
		if ifc.snapLen != 0 {
			caplen = min(caplen, uint64(ifc.snapLen))
		}
		if caplen > uint64(body-fixed) {
			return bad("simple packet block of %d bytes cannot hold the %d bytes it claims (original length %d, snap length %d)", length, caplen, origlen, ifc.snapLen)
		}
	} else {
		var id uint32
		if typ == ngBlockPB {
			id = uint32(r.order.Uint16(b))
		} else {
			id = r.order.Uint32(b)
		}
		if int64(id) >= int64(len(r.ifaces)) {
			return bad("interface %d is not described in this section (it has %d)", id, len(r.ifaces))
		}
		ifc = &r.ifaces[id]
		ifcIndex = int(id)
		stamp := uint64(r.order.Uint32(b[4:]))<<32 | uint64(r.order.Uint32(b[8:]))
		ts = ngTime(stamp, ifc)
		caplen, origlen = uint64(r.order.Uint32(b[12:])), uint64(r.order.Uint32(b[16:]))
		if caplen > uint64(body-fixed) {
			return bad("captured length %d does not fit its %d-byte block", caplen, length)
		}
		if caplen > origlen {
			return bad("captured length %d exceeds the original length %d", caplen, origlen)
		}
	}
	if msg := checkLen(r.lim, caplen); msg != "" {
		return &Error{File: s.name, Packet: num, Msg: msg}
	}
	data, err := s.readData(&r.buf, uint64(caplen))
	if err != nil {
		return bad("truncated packet block")
	}
	queue, dir, err := r.packetOptions(typ, body-fixed-int64(caplen), int64(caplen))
	if err != nil {
		return bad("%s", err)
	}
	if err := s.read(r.hdr[:4]); err != nil {
		return bad("truncated packet block")
	}
	if got := r.order.Uint32(r.hdr[:4]); got != length {
		return bad("block length %d at its start but %d at its end", length, got)
	}
	r.lastTS = ts
	*p = Packet{Data: data, Timestamp: ts, Length: int(origlen), LinkType: ifc.linkType, Interface: ifcIndex, Section: r.section, Number: num,
		Queue: queue, Direction: dir}
	return nil
}

// pcapng enhanced packet block options (pcapng spec, "Enhanced Packet
// Block").
const (
	ngOptEPBFlags = 2
	ngOptEPBQueue = 6
	// maxEPBOptions bounds the options read of one block; a block with
	// more keeps them unread (skipped), as options this reader does not
	// need.
	maxEPBOptions = 64 << 10
)

// packetOptions reads what follows a packet block's data (rest bytes: the
// padding, then an enhanced packet block's options) and returns the queue
// (-1 if none) and direction the options give.
func (r *ngReader) packetOptions(typ uint32, rest, caplen int64) (int, Direction, error) {
	pad := (4 - caplen%4) % 4
	if typ != ngBlockEPB || rest <= pad || rest > pad+maxEPBOptions {
		if err := r.s.skip(rest); err != nil {
			return -1, 0, errors.New("truncated packet block")
		}
		return -1, 0, nil
	}
	if cap(r.meta) < int(rest) {
		r.meta = make([]byte, rest)
	}
	b := r.meta[:rest]
	if err := r.s.read(b); err != nil {
		return -1, 0, errors.New("truncated packet block")
	}
	queue, dir := -1, DirectionUnknown
	for opts := b[pad:]; len(opts) >= 4; {
		code, olen := r.order.Uint16(opts), int(r.order.Uint16(opts[2:]))
		if code == ngOptEnd {
			break
		}
		padded := (olen + 3) &^ 3
		if 4+padded > len(opts) {
			return -1, 0, fmt.Errorf("packet option %d runs past its block", code)
		}
		v := opts[4 : 4+olen]
		switch {
		case code == ngOptEPBFlags && olen == 4:
			dir = Direction(r.order.Uint32(v) & 3)
		case code == ngOptEPBQueue && olen == 4:
			queue = int(r.order.Uint32(v))
		}
		opts = opts[4+padded:]
	}
	return queue, dir, nil
}

// ngTime converts a timestamp in the interface's units to a time.
func ngTime(stamp uint64, ifc *ngInterface) time.Time {
	sec, frac := stamp/ifc.units, stamp%ifc.units
	// frac*1e9/units without overflow: frac < units, so hi < units.
	hi, lo := bits.Mul64(frac, 1e9)
	nsec, _ := bits.Div64(hi, lo, ifc.units)
	return time.Unix(int64(sec)+ifc.offset, int64(nsec))
}
