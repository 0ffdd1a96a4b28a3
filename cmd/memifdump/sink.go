package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/memifpcap/memifpcap/internal/smallcopy"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// A sink takes the captured frames: a capture file (fileSink) or lines of
// text (textSink). data is only valid during the call: it points into the
// memif ring.
type sink interface {
	writePacket(ci gopacket.CaptureInfo, data []byte) error
	close() error
}

// batchSink is a sink that takes a whole batch in one call (the file sink):
// nothing per frame that can be done per batch.
type batchSink interface {
	// writeBatch writes the frames of ms, each on pcapng interface iface,
	// and returns how many it wrote.
	writeBatch(ms []memifpcap.Message, iface int) (int, error)
}

// writeFrames hands a batch read on pcapng interface iface to out and
// returns how many frames it took: in one call to a batchSink, else frame
// by frame, each made contiguous by r.
func writeFrames(out sink, ms []memifpcap.Message, iface int, r *reader) (int, error) {
	if b, ok := out.(batchSink); ok {
		return b.writeBatch(ms, iface)
	}
	for i := range ms {
		ci := ms[i].CaptureInfo
		ci.InterfaceIndex = iface
		if err := out.writePacket(ci, r.frame(ms[i].Buffers)); err != nil {
			return i, err
		}
	}
	return len(ms), nil
}

// outputBuffer is the size of the text output's buffer (the capture file's
// is blockSize).
const outputBuffer = 64 << 10

// errFileLimit ends a capture whose -G rotation made the -W files.
var errFileLimit = errors.New("file limit reached")

// fileSink writes pcap or pcapng files and rotates them as tcpdump's -C, -W
// and -G do.
type fileSink struct {
	pattern   string    // the -w argument
	stdout    io.Writer // for -w -
	ng        bool
	nano      bool
	flushEach bool          // -U
	sizeLimit int64         // -C in bytes, 0: none
	fileCount int           // -W, 0: none
	rotate    time.Duration // -G, 0: none
	digits    int           // width of ring numbers (tcpdump's WflagChars)

	linkType layers.LinkType
	snapLen  int
	// live is where the frames are written now (the file, or standard
	// output for -w -), for abandon, which runs beside the writer.
	// (A pointer, made by the first open, so that a fileSink copies.)
	live  *atomic.Pointer[os.File]
	intf  pcapgo.NgInterface // the pcapng interface block of every file
	stats func() memifpcap.Stats
	// queues are the pcapng interface blocks of a multi-queue capture, one
	// per receive queue, so that a frame's InterfaceIndex is its queue id;
	// when set, intf is unused and queueStats gives each block's counts.
	queues     []pcapgo.NgInterface
	queueStats func(q int) memifpcap.Stats
	start      time.Time

	name string   // the file being written
	f    *os.File // nil for standard output
	cw   countWriter
	out  block // records are encoded straight into it
	// refer is set while writeBatch writes a batch, whose frames stay
	// where they are until the next read: record may refer to them.
	refer bool
	pw    *pcapgo.Writer
	nw    *pcapgo.NgWriter

	sizeCount int       // tcpdump's Cflag_count: number of the file in the -C sequence
	timeCount int       // tcpdump's Gflag_count: -G rotations so far
	opened    time.Time // when the current -G interval began
}

// countWriter counts the bytes that reach the file, and keeps the first
// error, which pcapgo would otherwise flatten with %v.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// open starts the first file. The -G interval starts now.
func (s *fileSink) open(now time.Time) error {
	s.opened = now
	width := 0
	if s.sizeLimit > 0 {
		width = s.digits
	}
	return s.openFile(fileName(s.pattern, s.rotate > 0, now, 0, width))
}

func (s *fileSink) openFile(name string) error {
	s.name = name
	s.cw = countWriter{w: s.stdout}
	if s.live == nil {
		s.live = new(atomic.Pointer[os.File])
	}
	file, _ := s.stdout.(*os.File)
	if name != "-" {
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		s.f, s.cw.w, file = f, f, f
	}
	if file != nil {
		s.live.Store(file)
	}
	s.out.reset(&s.cw, maxRecord(s.snapLen), file)
	if s.ng {
		opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
			Hardware:    runtime.GOARCH,
			OS:          runtime.GOOS,
			Application: "memifdump",
		}}
		// NgWriter writes the section and interface blocks (and, at
		// the end, the statistics) into a bufio.Writer of its own,
		// flushed into out after each use; the packets bypass it.
		intfs := s.queues
		if len(intfs) == 0 {
			intfs = []pcapgo.NgInterface{s.intf}
		}
		nw, err := pcapgo.NewNgWriterInterface(&s.out, intfs[0], opts)
		if err != nil {
			return s.writeError(err)
		}
		for _, intf := range intfs[1:] {
			if _, err := nw.AddInterface(intf); err != nil {
				return s.writeError(err)
			}
		}
		if err := nw.Flush(); err != nil {
			return s.writeError(err)
		}
		s.nw = nw
	} else {
		if s.nano {
			s.pw = pcapgo.NewWriterNanos(&s.out)
		} else {
			s.pw = pcapgo.NewWriter(&s.out)
		}
		if err := s.pw.WriteFileHeader(uint32(s.snapLen), s.linkType); err != nil {
			return s.writeError(err)
		}
	}
	if s.flushEach {
		if err := s.out.Flush(); err != nil {
			return s.writeError(err)
		}
	}
	return nil
}

// closeFile ends the current file: the pcapng statistics block, the
// buffer, the descriptor.
func (s *fileSink) closeFile() error {
	var err error
	if s.nw != nil {
		if len(s.queues) == 0 {
			err = s.nw.WriteInterfaceStats(0, s.interfaceStats(s.stats()))
		}
		for q := range s.queues {
			if err = s.nw.WriteInterfaceStats(q, s.interfaceStats(s.queueStats(q))); err != nil {
				break
			}
		}
		if err == nil {
			err = s.nw.Flush()
		}
	}
	if err == nil {
		err = s.out.Flush()
	}
	if err != nil {
		err = s.writeError(err)
	}
	if s.f != nil {
		if cerr := s.f.Close(); cerr != nil && err == nil {
			err = cerr
		}
		s.f = nil
	}
	s.nw, s.pw = nil, nil
	return err
}

func (s *fileSink) interfaceStats(st memifpcap.Stats) pcapgo.NgInterfaceStatistics {
	now := time.Now()
	return pcapgo.NgInterfaceStatistics{
		LastUpdate:      now,
		StartTime:       s.start,
		EndTime:         now,
		PacketsReceived: st.Packets + st.Filtered,
		PacketsDropped:  st.BadDescriptors,
	}
}

// writeError names the file in a write error. An *os.PathError already
// does; pcapgo's own errors hide it, so the first error the file returned
// is preferred.
func (s *fileSink) writeError(err error) error {
	if s.cw.err != nil {
		err = s.cw.err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	name := s.name
	if name == "-" {
		name = "standard output"
	}
	return fmt.Errorf("write %s: %w", name, err)
}

// size is how large the current file is, buffered bytes included, as
// tcpdump's pcap_dump_ftell reports it.
func (s *fileSink) size() int64 { return s.cw.n + int64(s.out.Buffered()) }

// writePacket writes one frame; see writeBatch.
func (s *fileSink) writePacket(ci gopacket.CaptureInfo, data []byte) error {
	if ci.CaptureLength != len(data) || ci.CaptureLength > ci.Length {
		return s.writeError(fmt.Errorf("capture length %d, length %d, %d bytes of data", ci.CaptureLength, ci.Length, len(data)))
	}
	if err := s.rotateBefore(ci.Timestamp); err != nil {
		return err
	}
	one := [1][]byte{data}
	return s.record(ci.Timestamp, ci.CaptureLength, ci.Length, ci.InterfaceIndex, one[:])
}

// writeBatch writes the frames of a batch read (Message.Buffers hold
// CaptureLength bytes, as ReadBatch trims them), each record encoded
// straight into the output buffer, with no call per frame but record's
// (and none for a small pcap record, encoded in records' loop).
func (s *fileSink) writeBatch(ms []memifpcap.Message, iface int) (int, error) {
	s.refer = true
	n, err := s.records(ms, iface)
	s.refer = false
	// The frames are the ring's until the next read only: what refers to
	// them is written now.
	if s.out.referring() {
		if ferr := s.flush(); err == nil {
			err = ferr
		}
	}
	return n, err
}

// records writes the records of a batch; see writeBatch.
func (s *fileSink) records(ms []memifpcap.Message, iface int) (int, error) {
	rotates := s.rotate > 0 || s.sizeLimit > 0
	inline := !s.ng && !s.flushEach
	for i := range ms {
		ci := &ms[i].CaptureInfo
		if rotates {
			if err := s.rotateBefore(ci.Timestamp); err != nil {
				return i, err
			}
		}
		// A small one-buffer frame into pcap, the common case, is
		// encoded here as record would: a call costs the loop a spill
		// and reload of its state (BenchmarkWriteBatch, 64 bytes: 9.3 ->
		// 6.9 ns a frame).
		if segs := ms[i].Buffers; inline && len(segs) == 1 && len(segs[0]) == ci.CaptureLength &&
			smallcopy.Fits(ci.CaptureLength) && s.out.free() >= pcapRecordHeader+smallcopy.Max {
			out := s.out.extend(pcapRecordHeader + ci.CaptureLength)
			putPcapHeader(out, ci.Timestamp.Unix(), s.fraction(ci.Timestamp), ci.CaptureLength, ci.Length)
			smallcopy.Copy(out[pcapRecordHeader:], segs[0])
			continue
		}
		if err := s.record(ci.Timestamp, ci.CaptureLength, ci.Length, iface, ms[i].Buffers); err != nil {
			return i, err
		}
	}
	return len(ms), nil
}

// rotateBefore rotates before a frame stamped ts is written, exactly where
// tcpdump's dump_packet_and_trunc does: -G when the interval has passed (a
// frame's timestamp is when it was taken off the ring), then -C when the
// file is already over the size.
func (s *fileSink) rotateBefore(ts time.Time) error {
	if s.rotate > 0 && ts.Sub(s.opened) >= s.rotate {
		if err := s.rotateTime(ts); err != nil {
			return err
		}
	}
	if s.sizeLimit > 0 && s.size() > s.sizeLimit {
		return s.rotateSize(ts)
	}
	return nil
}

func (s *fileSink) rotateTime(now time.Time) error {
	s.opened = now
	s.timeCount++
	if err := s.closeFile(); err != nil {
		return err
	}
	if s.sizeLimit == 0 && s.fileCount > 0 && s.timeCount >= s.fileCount {
		return errFileLimit
	}
	s.sizeCount = 0
	width := 0
	if s.sizeLimit > 0 {
		width = s.digits
	}
	return s.openFile(fileName(s.pattern, true, now, 0, width))
}

func (s *fileSink) rotateSize(now time.Time) error {
	if err := s.closeFile(); err != nil {
		return err
	}
	s.sizeCount++
	if s.fileCount > 0 && s.sizeCount >= s.fileCount {
		s.sizeCount = 0
	}
	// The time fields keep the time the current -G interval began.
	return s.openFile(fileName(s.pattern, s.rotate > 0, s.opened, s.sizeCount, s.digits))
}

func (s *fileSink) close() error {
	if s.f == nil && s.nw == nil && s.pw == nil {
		return nil // already closed by a failed rotation
	}
	return s.closeFile()
}
