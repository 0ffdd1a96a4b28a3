package memiftap

import (
	"encoding/binary"
	"time"
)

// The capture file formats, written here rather than with gopacket
// v1.1.19's pcapgo: its NgWriter cannot put options on an Enhanced Packet
// Block, and the tap's records need two (epb_flags for the direction,
// epb_queue for the queue), so that Wireshark shows
// frame.packet_flags_direction and frame.interface_queue. The blocks are
// encoded straight into the capture's spool (see spool.go), so recording a
// frame allocates nothing. Little-endian, as every host memif runs on.
//
// Block and option codes: the pcapng specification
// (draft-ietf-opsawg-pcapng), sections 4.1 to 4.6.
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockISB = 0x00000005
	blockEPB = 0x00000006

	byteOrderMagic = 0x1A2B3C4D

	optEnd       = 0
	optComment   = 1
	shbHardware  = 2
	shbOS        = 3
	shbUserAppl  = 4
	ifName       = 2
	ifDesc       = 3
	ifTSResol    = 9
	ifFilter     = 11
	ifOS         = 12
	epbFlags     = 2
	epbQueue     = 6
	isbStartTime = 2
	isbEndTime   = 3
	isbIfRecv    = 4
	isbFilterAcc = 6
	isbOSDrop    = 7
	isbUsrDeliv  = 8

	// epb_flags bits 0-1: the direction.
	flagInbound  = 1
	flagOutbound = 2

	// epbFixed is an EPB without its data: the header (28 bytes), the
	// two 4-byte options (8 bytes each), the end of options (4) and the
	// trailing length (4).
	epbFixed = 28 + 8 + 8 + 4 + 4

	pcapMagicMicro = 0xA1B2C3D4
	pcapMagicNano  = 0xA1B23C4D
	pcapRecHdr     = 16
)

var le = binary.LittleEndian

func pad4(n int) int { return (n + 3) &^ 3 }

// optBuf builds the options of a block that is written once (SHB, IDB,
// ISB); these allocate, per file, not per frame.
type optBuf []byte

func (b *optBuf) add(code uint16, val []byte) {
	var h [4]byte
	le.PutUint16(h[0:], code)
	le.PutUint16(h[2:], uint16(len(val)))
	*b = append(*b, h[:]...)
	*b = append(*b, val...)
	*b = append(*b, make([]byte, pad4(len(val))-len(val))...)
}

func (b *optBuf) addString(code uint16, s string) {
	if s != "" {
		b.add(code, []byte(s))
	}
}

func (b *optBuf) addU64(code uint16, v uint64) {
	var x [8]byte
	le.PutUint64(x[:], v)
	b.add(code, x[:])
}

// block frames body (everything after the length field, options
// included) as a block of type t.
func block(t uint32, body []byte, opts optBuf) []byte {
	if len(opts) > 0 {
		opts.add(optEnd, nil)
	}
	total := 12 + len(body) + len(opts)
	b := make([]byte, 0, total)
	b = le.AppendUint32(b, t)
	b = le.AppendUint32(b, uint32(total))
	b = append(b, body...)
	b = append(b, opts...)
	return le.AppendUint32(b, uint32(total))
}

// shb is the Section Header Block, with an unspecified section length.
func shb(hardware, os, appl string) []byte {
	body := le.AppendUint32(nil, byteOrderMagic)
	body = le.AppendUint16(body, 1)
	body = le.AppendUint16(body, 0)
	body = le.AppendUint64(body, ^uint64(0))
	var o optBuf
	o.addString(shbHardware, hardware)
	o.addString(shbOS, os)
	o.addString(shbUserAppl, appl)
	return block(blockSHB, body, o)
}

// idb is an Interface Description Block with nanosecond timestamps.
func idb(linkType uint16, snapLen int, name, desc, filter, os string) []byte {
	body := le.AppendUint16(nil, linkType)
	body = le.AppendUint16(body, 0)
	body = le.AppendUint32(body, uint32(snapLen))
	var o optBuf
	o.addString(ifName, name)
	o.addString(ifDesc, desc)
	o.add(ifTSResol, []byte{9})
	if filter != "" {
		// Type 0: a libpcap filter string.
		o.add(ifFilter, append([]byte{0}, filter...))
	}
	o.addString(ifOS, os)
	return block(blockIDB, body, o)
}

// isbCounts are the counters of one interface's statistics block.
type isbCounts struct {
	start, end        time.Time
	received          uint64 // isb_ifrecv
	accepted          uint64 // isb_filteraccept
	notRecorded       uint64 // isb_osdrop: accepted but lost between forwarding and the file
	recorded          uint64 // isb_usrdeliv
	hasFilterAccepted bool
}

func tsWords(t time.Time) (hi, lo uint32) {
	ns := uint64(t.UnixNano())
	return uint32(ns >> 32), uint32(ns)
}

func (b *optBuf) addTime(code uint16, t time.Time) {
	hi, lo := tsWords(t)
	var x [8]byte
	le.PutUint32(x[0:], hi)
	le.PutUint32(x[4:], lo)
	b.add(code, x[:])
}

// isb is an Interface Statistics Block for interface id.
func isb(id uint32, c isbCounts) []byte {
	hi, lo := tsWords(c.end)
	body := le.AppendUint32(nil, id)
	body = le.AppendUint32(body, hi)
	body = le.AppendUint32(body, lo)
	var o optBuf
	o.addTime(isbStartTime, c.start)
	o.addTime(isbEndTime, c.end)
	o.addU64(isbIfRecv, c.received)
	if c.hasFilterAccepted {
		o.addU64(isbFilterAcc, c.accepted)
	}
	o.addU64(isbOSDrop, c.notRecorded)
	o.addU64(isbUsrDeliv, c.recorded)
	return block(blockISB, body, o)
}

// putEPB encodes an Enhanced Packet Block of the frame in segs (capLen
// bytes of it kept, length its full length) into dst, which is exactly
// epbSize(capLen) bytes, without allocating.
func putEPB(dst []byte, iface uint32, ts time.Time, segs [][]byte, capLen, length int, flags, queue uint32) {
	total := uint32(len(dst))
	hi, lo := tsWords(ts)
	le.PutUint32(dst[0:], blockEPB)
	le.PutUint32(dst[4:], total)
	le.PutUint32(dst[8:], iface)
	le.PutUint32(dst[12:], hi)
	le.PutUint32(dst[16:], lo)
	le.PutUint32(dst[20:], uint32(capLen))
	le.PutUint32(dst[24:], uint32(length))
	p := 28 + gather(dst[28:28+capLen], segs)
	end := 28 + pad4(capLen)
	clear(dst[p:end])
	p = end
	le.PutUint16(dst[p:], epbFlags)
	le.PutUint16(dst[p+2:], 4)
	le.PutUint32(dst[p+4:], flags)
	le.PutUint16(dst[p+8:], epbQueue)
	le.PutUint16(dst[p+10:], 4)
	le.PutUint32(dst[p+12:], queue)
	le.PutUint32(dst[p+16:], optEnd)
	le.PutUint32(dst[p+20:], total)
}

func epbSize(capLen int) int { return epbFixed + pad4(capLen) }

// pcapHeader is a pcap file header.
func pcapHeader(linkType uint16, snapLen int, nano bool) []byte {
	magic := uint32(pcapMagicMicro)
	if nano {
		magic = pcapMagicNano
	}
	b := le.AppendUint32(nil, magic)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, uint32(snapLen))
	return le.AppendUint32(b, uint32(linkType))
}

// putPcapRecord encodes a pcap record into dst (pcapRecHdr+capLen bytes).
func putPcapRecord(dst []byte, ts time.Time, segs [][]byte, capLen, length int, nano bool) {
	sub := uint32(ts.Nanosecond())
	if !nano {
		sub /= 1000
	}
	le.PutUint32(dst[0:], uint32(ts.Unix()))
	le.PutUint32(dst[4:], sub)
	le.PutUint32(dst[8:], uint32(capLen))
	le.PutUint32(dst[12:], uint32(length))
	gather(dst[pcapRecHdr:pcapRecHdr+capLen], segs)
}

// gather copies segments into dst until it is full and returns the count.
func gather(dst []byte, segs [][]byte) int {
	n := 0
	for _, s := range segs {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], s)
	}
	return n
}
