package main

import (
	"encoding/binary"
	"io"
	"time"

	"github.com/memifpcap/memifpcap/internal/smallcopy"
)

// blockSize is how many bytes the capture file gets per write: enough
// that the write system call is paid once per about 800 small records,
// and few enough that one write (16-30 µs into tmpfs at 2-4 GB/s) ends
// before the peer fills the ring (1024 slots take 30 µs at full rate):
// while memifdump is in write(2) it takes nothing off the ring, and a
// peer that does not wait (VPP) drops what does not fit. Measured with
// 64-byte frames into a tmpfs pcap: 64 KiB blocks 15-21 Mpps, 1 MiB
// blocks 11-13.
const blockSize = 64 << 10

// block is the output buffer. Records are encoded straight into it (extend),
// and the file headers pcapgo writes come through Write; it reaches the
// file one block at a time.
type block struct {
	buf []byte
	w   io.Writer
}

// reset points the buffer at w, empty, with room for at least need bytes
// (a whole record of the largest snapshot length).
func (b *block) reset(w io.Writer, need int) {
	if size := max(blockSize, need); cap(b.buf) < size {
		b.buf = make([]byte, 0, size)
	}
	b.buf, b.w = b.buf[:0], w
}

// Write appends p (pcapgo's file header, pcapng's blocks other than
// packets), flushing first if it does not fit.
func (b *block) Write(p []byte) (int, error) {
	if len(p) > cap(b.buf)-len(b.buf) {
		if err := b.Flush(); err != nil {
			return 0, err
		}
		if len(p) > cap(b.buf) {
			return b.w.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// free is how many bytes fit before the next Flush.
func (b *block) free() int { return cap(b.buf) - len(b.buf) }

// extend extends the buffer by n bytes, which fit (free), and returns
// them to be written in place.
func (b *block) extend(n int) []byte {
	l := len(b.buf)
	b.buf = b.buf[:l+n]
	return b.buf[l:]
}

// Flush writes what is buffered. After an error the buffer is emptied
// anyway: the capture ends with the error.
func (b *block) Flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	n, err := b.w.Write(b.buf)
	if err == nil && n < len(b.buf) {
		err = io.ErrShortWrite
	}
	b.buf = b.buf[:0]
	return err
}

// Buffered is how many bytes wait for the next Flush.
func (b *block) Buffered() int { return len(b.buf) }

// Record header sizes: pcap's record header; pcapng's Enhanced Packet
// Block before the data (type, length, interface, timestamp high and low,
// captured and original length) and after it (the length again).
const (
	pcapRecordHeader = 16
	epbHeader        = 28
	epbTrailer       = 4
	epbType          = 6
)

// maxRecord is the most bytes one record of snapLen bytes of data takes.
func maxRecord(snapLen int) int { return epbHeader + snapLen + 3 + epbTrailer }

// record encodes one frame, whose captured bytes are the concatenation of
// segs (capLen bytes in all), straight into the output buffer: a pcap
// record in micro- or nanoseconds, or a pcapng Enhanced Packet Block in
// nanoseconds (the interface blocks say if_tsresol 9) on interface iface.
// The byte layout is pcapgo's (little-endian, as its file headers are).
func (s *fileSink) record(ts time.Time, capLen, length, iface int, segs [][]byte) error {
	le := binary.LittleEndian
	hdr, total := pcapRecordHeader, pcapRecordHeader+capLen
	if s.ng {
		hdr = epbHeader
		total = epbHeader + capLen + (-capLen & 3) + epbTrailer
	}
	if total > s.out.free() {
		if err := s.out.Flush(); err != nil {
			return s.writeError(err)
		}
	}
	out := s.out.extend(total)
	if s.ng {
		ns := uint64(ts.UnixNano())
		le.PutUint32(out[0:], epbType)
		le.PutUint32(out[4:], uint32(total))
		le.PutUint32(out[8:], uint32(iface))
		le.PutUint32(out[12:], uint32(ns>>32))
		le.PutUint32(out[16:], uint32(ns))
		le.PutUint32(out[20:], uint32(capLen))
		le.PutUint32(out[24:], uint32(length))
		tail := out[hdr+capLen:]
		clear(tail[:len(tail)-epbTrailer])
		le.PutUint32(tail[len(tail)-epbTrailer:], uint32(total))
	} else {
		frac := ts.Nanosecond()
		if !s.nano {
			frac /= 1000
		}
		le.PutUint32(out[0:], uint32(ts.Unix()))
		le.PutUint32(out[4:], uint32(frac))
		le.PutUint32(out[8:], uint32(capLen))
		le.PutUint32(out[12:], uint32(length))
	}
	data := out[hdr : hdr+capLen]
	if len(segs) == 1 && len(segs[0]) == capLen && smallcopy.Fits(capLen) {
		smallcopy.Copy(data, segs[0]) // a small frame: no call
	} else {
		for _, seg := range segs {
			data = data[copy(data, seg):]
		}
	}
	if s.flushEach {
		if err := s.out.Flush(); err != nil {
			return s.writeError(err)
		}
	}
	return nil
}
