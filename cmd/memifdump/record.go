package main

import (
	"encoding/binary"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

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
// file one block at a time. On a file (raw set), a large frame can also be
// referred to where the ring put it (refer): Flush then writes the
// buffer's runs and those frames in order with one writev(2), so the
// kernel reads the frame once instead of memifdump copying it first.
type block struct {
	buf []byte
	w   *countWriter

	raw syscall.RawConn // the output file's, or nil: no refer
	// iov is what the next Flush writes when a frame was referred to: the
	// buffer's runs and the frames, in file order. The runs are closed
	// when a frame is referred to and at Flush: from is where the open
	// run starts in buf, refs how many bytes the frames add.
	iov  []unix.Iovec
	from int
	refs int
	// During Flush: left is what of iov writev has still to write, werr
	// the error it met.
	left   []unix.Iovec
	werr   error
	writev func(fd uintptr) bool // b.writeIovecs, made by reset
}

// maxIovecs is how many pieces one writev takes (Linux's UIO_MAXIOV).
const maxIovecs = 1024

// reset points the buffer at w, empty, with room for at least need bytes
// (a whole record of the largest snapshot length). With f, the file w
// writes to, Flush may write frames referred to.
func (b *block) reset(w *countWriter, need int, f *os.File) {
	if size := max(blockSize, need); cap(b.buf) < size {
		b.buf = make([]byte, 0, size)
	}
	b.buf, b.w, b.raw = b.buf[:0], w, nil
	b.iov, b.from, b.refs = b.iov[:0], 0, 0
	if f != nil {
		if raw, err := f.SyscallConn(); err == nil {
			b.raw = raw
		}
	}
	if b.iov == nil {
		b.iov = make([]unix.Iovec, 0, maxIovecs)
	}
	b.writev = b.writeIovecs // bound to b: a block is used where reset was called
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

// roomFor says whether n more pieces can be referred to before the next
// Flush (each may close a run of the buffer too).
func (b *block) roomFor(n int) bool { return len(b.iov)+2*n+1 <= maxIovecs }

// refer appends p to the output without copying it: p must stay as it is
// until the next Flush. raw must be set, and roomFor must have said there
// was room.
func (b *block) refer(p []byte) {
	if len(p) == 0 {
		return
	}
	b.closeRun()
	b.iov = append(b.iov, unix.Iovec{Base: &p[0]})
	b.iov[len(b.iov)-1].SetLen(len(p))
	b.refs += len(p)
}

// closeRun ends the buffer's open run in iov.
func (b *block) closeRun() {
	if l := len(b.buf); l > b.from {
		b.iov = append(b.iov, unix.Iovec{Base: &b.buf[b.from]})
		b.iov[len(b.iov)-1].SetLen(l - b.from)
		b.from = l
	}
}

// referring says whether a frame referred to waits for the next Flush.
func (b *block) referring() bool { return len(b.iov) > 0 }

// Flush writes what is buffered. After an error the buffer is emptied
// anyway: the capture ends with the error.
func (b *block) Flush() error {
	if len(b.iov) > 0 {
		return b.flushIovecs()
	}
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

// flushIovecs writes iov with writev through the file's poller (a FIFO's
// write deadline holds as for Write). What writev cannot write, for any
// reason, goes through Write piece by piece, so that errors are the
// same as without refer (the file named, EPIPE on standard output a
// SIGPIPE).
func (b *block) flushIovecs() error {
	b.closeRun()
	b.left, b.werr = b.iov, nil
	err := b.raw.Write(b.writev)
	if err == nil {
		err = b.werr
	}
	if err != nil {
		for _, v := range b.left {
			if _, err = b.w.Write(unsafe.Slice(v.Base, v.Len)); err != nil {
				break
			}
		}
	}
	b.buf, b.iov, b.left, b.from, b.refs = b.buf[:0], b.iov[:0], nil, 0, 0
	return err
}

// writeIovecs is the raw.Write callback: it writes left, dropping what
// is written from its front, until all is or writev fails (false: wait
// until the file takes more).
func (b *block) writeIovecs(fd uintptr) bool {
	for len(b.left) > 0 {
		n, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&b.left[0])), uintptr(len(b.left)))
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			b.werr = e
			return true
		}
		if n == 0 {
			b.werr = io.ErrShortWrite // as os.File.Write says of it
			return true
		}
		b.w.n += int64(n)
		b.drop(int(n))
	}
	return true
}

// drop removes the first n bytes from left.
func (b *block) drop(n int) {
	i := 0
	for ; i < len(b.left) && n >= int(b.left[i].Len); i++ {
		n -= int(b.left[i].Len)
	}
	b.left = b.left[i:]
	if n > 0 {
		v := &b.left[0]
		v.Base = (*byte)(unsafe.Add(unsafe.Pointer(v.Base), n))
		v.SetLen(int(v.Len) - n)
	}
}

// Buffered is how many bytes wait for the next Flush.
func (b *block) Buffered() int { return len(b.buf) + b.refs }

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

// referMin is the smallest frame record refers to (block.refer) rather
// than copies, when it may. A frame referred to costs two pieces of a
// writev (5 ns each into /dev/null, 16-27 ns into tmpfs, measured) and
// makes its batch end with a write; a copied frame costs memifdump a read
// of every line the peer wrote, on another CPU. Measured with memifperf's
// generator: every frame referred to, 64-byte frames into /dev/null fell
// from 28-41 to 10 Mpps (a writev per small batch); from 512 bytes on, 1500-byte frames into /dev/null went from 3.0-3.8
// to 9.8-15.1 Mpps, and into a tmpfs file moved within the noise (the
// kernel's copy is the cost there).
const referMin = 512

// sums says whether segs hold n bytes in all.
func sums(segs [][]byte, n int) bool {
	for _, seg := range segs {
		n -= len(seg)
	}
	return n == 0
}

// record encodes one frame, whose captured bytes are the concatenation of
// segs (capLen bytes in all), straight into the output buffer: a pcap
// record in micro- or nanoseconds, or a pcapng Enhanced Packet Block in
// nanoseconds (the interface blocks say if_tsresol 9) on interface iface.
// The byte layout is pcapgo's (little-endian, as its file headers are).
// With s.refer set, segs stay as they are until the next Flush, and a
// frame of referMin bytes or more is written from them (recordRefer).
func (s *fileSink) record(ts time.Time, capLen, length, iface int, segs [][]byte) error {
	if capLen >= referMin && s.refer && s.out.raw != nil && sums(segs, capLen) {
		return s.recordRefer(ts, capLen, length, iface, segs)
	}
	hdr, total := pcapRecordHeader, pcapRecordHeader+capLen
	if s.ng {
		hdr = epbHeader
		total = epbHeader + capLen + (-capLen & 3) + epbTrailer
	}
	if total > s.out.free() {
		if err := s.flush(); err != nil {
			return err
		}
	}
	out := s.out.extend(total)
	if s.ng {
		putEPBHeader(out, total, iface, uint64(ts.UnixNano()), capLen, length)
	} else {
		putPcapHeader(out, ts.Unix(), s.fraction(ts), capLen, length)
	}
	data := out[hdr : hdr+capLen]
	if len(segs) == 1 && len(segs[0]) == capLen && smallcopy.Fits(capLen) {
		smallcopy.Copy(data, segs[0]) // a small frame: no call
	} else {
		for _, seg := range segs {
			data = data[copy(data, seg):]
		}
	}
	if s.ng {
		trailer(out[hdr+capLen:], total)
	}
	return s.recorded()
}

// recordRefer is record for a frame written from segs where they are: its
// header and trailer in the buffer, its bytes referred to between them.
func (s *fileSink) recordRefer(ts time.Time, capLen, length, iface int, segs [][]byte) error {
	room := pcapRecordHeader
	if s.ng {
		room = epbHeader + (-capLen & 3) + epbTrailer
	}
	if room > s.out.free() || !s.out.roomFor(len(segs)) {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if s.ng {
		total := room + capLen
		putEPBHeader(s.out.extend(epbHeader), total, iface, uint64(ts.UnixNano()), capLen, length)
		for _, seg := range segs {
			s.out.refer(seg)
		}
		trailer(s.out.extend(room-epbHeader), total)
	} else {
		putPcapHeader(s.out.extend(pcapRecordHeader), ts.Unix(), s.fraction(ts), capLen, length)
		for _, seg := range segs {
			s.out.refer(seg)
		}
	}
	return s.recorded()
}

// putEPBHeader encodes an Enhanced Packet Block's header, total bytes
// long, on interface iface, stamped ns nanoseconds after the epoch.
func putEPBHeader(out []byte, total, iface int, ns uint64, capLen, length int) {
	h := (*[epbHeader]byte)(out) // one bounds check; whole words stored
	le := binary.LittleEndian
	le.PutUint64(h[0:], epbType|uint64(uint32(total))<<32)
	le.PutUint64(h[8:], uint64(uint32(iface))|ns>>32<<32)
	le.PutUint64(h[16:], uint64(uint32(ns))|uint64(uint32(capLen))<<32)
	le.PutUint32(h[24:], uint32(length))
}

// putPcapHeader encodes a pcap record header stamped sec seconds after
// the epoch and frac micro- or nanoseconds (fraction).
func putPcapHeader(out []byte, sec int64, frac, capLen, length int) {
	h := (*[pcapRecordHeader]byte)(out) // one bounds check; whole words stored
	le := binary.LittleEndian
	le.PutUint64(h[0:], uint64(uint32(sec))|uint64(uint32(frac))<<32)
	le.PutUint64(h[8:], uint64(uint32(capLen))|uint64(uint32(length))<<32)
}

// fraction is a pcap timestamp's fraction of a second: micro- or, for
// -nano, nanoseconds.
func (s *fileSink) fraction(ts time.Time) int {
	if s.nano {
		return ts.Nanosecond()
	}
	return ts.Nanosecond() / 1000
}

// trailer encodes an Enhanced Packet Block's padding and closing length
// (tail: what follows the data).
func trailer(tail []byte, total int) {
	clear(tail[:len(tail)-epbTrailer])
	binary.LittleEndian.PutUint32(tail[len(tail)-epbTrailer:], uint32(total))
}

// recorded ends a record: with -U the output is written at once.
func (s *fileSink) recorded() error {
	if s.flushEach {
		return s.flush()
	}
	return nil
}

// flush writes the buffer out, the error naming the file.
func (s *fileSink) flush() error {
	if err := s.out.Flush(); err != nil {
		return s.writeError(err)
	}
	return nil
}
