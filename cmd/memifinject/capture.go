package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// This file reads capture files: pcap (microsecond and nanosecond, either
// byte order) and pcapng, told apart by their first bytes, never by the
// name; either may be gzip-compressed, as pcapgo.NewReader allows.
//
// pcapgo's readers are not used here because the files are hostile input
// and gopacket v1.1.19's readers trust them: NgReader divides by zero on an
// if_tsresol of 2^-64 (a panic), allocates whatever an interface's snap
// length or a block's capture length claims (up to 4 GiB) before reading a
// byte, and reads a capture length longer than its block into the next
// one; Reader narrows the 32-bit link type to 8 bits, so a LINKTYPE 257
// file reads as Ethernet. These readers check every length against its
// block and against what is left of the file before allocating, and never
// allocate per packet. The tests check them against pcapgo, editcap and
// tshark on well-formed files.

// packet is one record of a capture file.
type packet struct {
	data     []byte // the captured bytes; valid until the next read
	ts       time.Time
	length   int    // original length on the wire, ≥ len(data)
	linkType uint32 // of the interface it was captured on
	num      int    // 1-based record number within its file
}

// captureReader reads the packets of one capture file in order.
type captureReader interface {
	// next reads the next packet into p. It returns io.EOF at a clean end
	// of file and an *inputError for anything else wrong with the file.
	next(p *packet) error
	// linkType is the file's link type: the pcap header's, or the first
	// pcapng interface's; ok is false for a pcapng file whose first packet
	// (if any) comes before any interface description.
	linkType() (lt uint32, ok bool)
}

// inputError is a fault in an input file: not a capture, cut short,
// corrupt, or not sendable on this memif link. packet is the 1-based record
// number it concerns, 0 for the file as a whole.
type inputError struct {
	file   string
	packet int
	msg    string
}

func (e *inputError) Error() string {
	if e.packet > 0 {
		return fmt.Sprintf("%s: packet %d: %s", e.file, e.packet, e.msg)
	}
	return fmt.Sprintf("%s: %s", e.file, e.msg)
}

// Magic numbers, as the first four bytes of a file read little-endian.
const (
	pcapMagicMicro   = 0xa1b2c3d4
	pcapMagicNano    = 0xa1b23c4d
	pcapngBlockSHB   = 0x0a0d0d0a // palindromic: the same in both byte orders
	pcapngByteOrder  = 0x1a2b3c4d
	gzipMagic        = 0x8b1f // the first two bytes, little-endian
	pcapHeaderSize   = 24
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

// ringLimit is the largest frame a memif ring can carry: one frame takes
// one descriptor (and one buffer) per bufSize bytes, and a chain cannot be
// longer than the ring.
type ringLimit struct{ slots, bufSize int }

// check returns why a frame of n bytes cannot be sent, or "".
func (l ringLimit) check(n uint64) string {
	need := (n + uint64(l.bufSize) - 1) / uint64(l.bufSize)
	if need <= uint64(l.slots) {
		return ""
	}
	return fmt.Sprintf("a %d-byte frame is larger than the memif ring can carry: it needs %d buffers of %d bytes and the ring has %d slots (-ring-size %d, -buffer-size %d)",
		n, need, l.bufSize, l.slots, l.slots, l.bufSize)
}

// newCaptureReader detects the format of the stream br (of size bytes, -1
// if unknown) and reads its header. Records longer than lim allows are
// reported, with their number, without being read.
func newCaptureReader(name string, br *bufio.Reader, size int64, lim ringLimit) (captureReader, error) {
	s := &src{name: name, br: br, size: size}
	head, err := br.Peek(4)
	if len(head) >= 2 && binary.LittleEndian.Uint16(head) == gzipMagic {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &inputError{file: name, msg: fmt.Sprintf("gzip: %v", err)}
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
		return &inputError{file: name, msg: fmt.Sprintf("not a pcap or pcapng file: %s%d bytes long", what, len(head))}
	}
	return &inputError{file: name, msg: fmt.Sprintf("not a pcap or pcapng file: %sstarts with % x", what, head)}
}

// pcapReader reads the classic libpcap format.
type pcapReader struct {
	s     *src
	order binary.ByteOrder
	nano  bool
	lt    uint32
	lim   ringLimit
	hdr   [pcapRecordHeader]byte
	buf   []byte
	n     int
}

func newPcapReader(s *src, lim ringLimit) (*pcapReader, error) {
	var h [pcapHeaderSize]byte
	if err := s.read(h[:]); err != nil {
		return nil, &inputError{file: s.name, msg: fmt.Sprintf("truncated pcap file header: %d of %d bytes", s.off, pcapHeaderSize)}
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
		return nil, &inputError{file: s.name, msg: fmt.Sprintf("pcap version %d.%d is not supported (want 2.4)", major, minor)}
	}
	// The whole 32-bit field: its upper bits carry the FCS length of
	// frames that end in one, which must not be sent as if they did not.
	r.lt = r.order.Uint32(h[20:])
	return r, nil
}

func (r *pcapReader) linkType() (uint32, bool) { return r.lt, true }

func (r *pcapReader) next(p *packet) error {
	s := r.s
	num := r.n + 1
	bad := func(format string, args ...any) error {
		return &inputError{file: s.name, packet: num, msg: fmt.Sprintf(format, args...)}
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
	if msg := r.lim.check(uint64(caplen)); msg != "" {
		return bad("%s", msg)
	}
	if cap(r.buf) < int(caplen) {
		r.buf = make([]byte, caplen)
	}
	data := r.buf[:caplen]
	if err := s.read(data); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return bad("truncated record: it holds %d bytes, the file ends %d bytes into it", caplen, s.off-start-pcapRecordHeader)
		}
		return bad("read: %v", err)
	}
	nsec := int64(frac)
	if !r.nano {
		nsec *= 1000
	}
	*p = packet{data: data, ts: time.Unix(int64(sec), nsec), length: int(length), linkType: r.lt, num: num}
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
	lim     ringLimit
	hdr     [32]byte
	meta    []byte
	buf     []byte
	n       int
	lastTS  time.Time
	// pending is a packet block whose header was read by the look-ahead
	// in newNgReader, to be returned first.
	pendingType, pendingLen uint32
	pendingAt               int64
}

func newNgReader(s *src, lim ringLimit) (*ngReader, error) {
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
	return &inputError{file: r.s.name, msg: where + ": " + fmt.Sprintf(format, args...)}
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

func (r *ngReader) next(p *packet) error {
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
func (r *ngReader) packetBlock(p *packet, typ, length uint32, start int64) error {
	s := r.s
	num := r.n + 1
	r.n = num
	bad := func(format string, args ...any) error {
		return &inputError{file: s.name, packet: num, msg: fmt.Sprintf("pcapng block at byte %d: ", start) + fmt.Sprintf(format, args...)}
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
	var caplen, origlen uint64
	ts := r.lastTS
	if typ == ngBlockSPB {
		// No interface id, no timestamp, no capture length: interface 0,
		// the block's room, bounded by that interface's snap length.
		if len(r.ifaces) == 0 {
			return bad("simple packet block before any interface description")
		}
		ifc = &r.ifaces[0]
		origlen = uint64(r.order.Uint32(b))
		caplen = min(origlen, uint64(body-fixed))
		if ifc.snapLen != 0 {
			caplen = min(caplen, uint64(ifc.snapLen))
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
	if msg := r.lim.check(caplen); msg != "" {
		return &inputError{file: s.name, packet: num, msg: msg}
	}
	if cap(r.buf) < int(caplen) {
		r.buf = make([]byte, caplen)
	}
	data := r.buf[:caplen]
	if err := s.read(data); err != nil {
		return bad("truncated packet block")
	}
	if err := s.skip(body - fixed - int64(caplen)); err != nil {
		return bad("truncated packet block")
	}
	if err := s.read(r.hdr[:4]); err != nil {
		return bad("truncated packet block")
	}
	if got := r.order.Uint32(r.hdr[:4]); got != length {
		return bad("block length %d at its start but %d at its end", length, got)
	}
	r.lastTS = ts
	*p = packet{data: data, ts: ts, length: int(origlen), linkType: ifc.linkType, num: num}
	return nil
}

// ngTime converts a timestamp in the interface's units to a time.
func ngTime(stamp uint64, ifc *ngInterface) time.Time {
	sec, frac := stamp/ifc.units, stamp%ifc.units
	// frac*1e9/units without overflow: frac < units, so hi < units.
	hi, lo := bits.Mul64(frac, 1e9)
	nsec, _ := bits.Div64(hi, lo, ifc.units)
	return time.Unix(int64(sec)+ifc.offset, int64(nsec))
}
