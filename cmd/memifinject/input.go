package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/memifpcap/memifpcap/capfile"
	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// readBufferSize is the read-ahead on each capture file: large enough that
// a jumbo frame is one copy, small enough not to matter.
const readBufferSize = 1 << 20

// inputs are the capture files to replay, in order, checked before the
// first packet is sent.
type inputs struct {
	files   []*inputFile
	mode    memifpcap.Mode
	stripL2 bool // Ethernet captures are taken too (-strip-l2)
	lim     ringLimit
	ctx     context.Context // ends a read blocked on a stream
	br      *bufio.Reader   // reused for every streamed pass over a file
	arena   []byte          // the bytes of every preloaded packet
}

type inputFile struct {
	name string
	// mem holds the file's packets when it was loaded into memory
	// (-preload, or a file that cannot be read twice, such as a pipe);
	// nil means it is read from disk on every pass.
	mem []memPacket
	// stream is the open reader of a pipe or FIFO, which the first pass
	// takes over; streamed says it was taken.
	stream   *fileSource
	streamed bool
}

type memPacket struct {
	off, caplen, length int // data is arena[off:off+caplen]
	ts                  time.Time
	linkType            uint32
	queue               int32
	dir                 capfile.Direction
}

// loadOptions say how much of each file to read before sending.
type loadOptions struct {
	preload  bool // read every file into memory
	noVerify bool // check only headers and link types, not every record
	stripL2  bool // -strip-l2: Ethernet captures go into an ip-mode link
	// multiPass says the files are read more than once (-loop other than
	// 1): a pipe or FIFO is then refused up front.
	multiPass bool
}

// loadInputs opens every file, checks its format and link type against the
// link's mode, and then (unless noVerify) reads every record through,
// checking that each is whole and fits the ring; with preload it keeps
// them. Any fault is an error naming the file and the packet.
//
// A file that cannot be read twice (a pipe, a FIFO, "-" for standard
// input) is not read ahead: only its header is read here, and its packets
// are checked and sent as they arrive, within bounded memory (the read-ahead
// below and one record). It can be replayed once: a second pass (-loop
// other than 1) is refused. ctx ends a read blocked on such a stream, here
// and during the replay: a stopped replay is not held up by a silent
// writer.
func loadInputs(ctx context.Context, names []string, mode memifpcap.Mode, lim ringLimit, opt loadOptions) (*inputs, error) {
	in := &inputs{ctx: ctx, mode: mode, stripL2: opt.stripL2, lim: lim, br: bufio.NewReaderSize(nil, readBufferSize)}
	for _, name := range names {
		f, err := in.load(ctx, name, opt)
		if err != nil {
			in.closeStreams()
			return nil, err
		}
		in.files = append(in.files, f)
	}
	return in, nil
}

// closeStreams closes the streams opened and not replayed.
func (in *inputs) closeStreams() {
	for _, f := range in.files {
		if f.stream != nil {
			f.stream.close()
			f.stream = nil
		}
	}
}

func (in *inputs) load(ctx context.Context, name string, opt loadOptions) (*inputFile, error) {
	r, closeFile, stream, err := in.openReader(ctx, name, nil)
	if err != nil {
		return nil, err
	}
	f := &inputFile{name: name}
	// A pcapng file without an interface before its first packet has no
	// link type yet; its packets are checked one by one.
	if lt, ok := r.LinkType(); ok {
		if err := in.checkLinkType(f, lt, 0); err != nil {
			closeFile()
			return nil, err
		}
	}
	if stream != nil {
		if opt.multiPass {
			closeFile()
			return nil, &inputError{file: name, msg: "is a pipe or FIFO, which can be read only once: -loop must be 1 (copy it to a file to replay it more often)"}
		}
		// Streamed: its only pass is the one the replay makes.
		f.stream = &fileSource{in: in, f: f, r: r, closeFile: closeFile, stream: stream}
		return f, nil
	}
	defer closeFile()
	keep := opt.preload
	if !keep && opt.noVerify {
		return f, nil
	}
	var c capfile.Packet
	var p packet
	for n := 1; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("%s: interrupted while checking it", name)
		}
		err := r.Next(&c)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		p.fromCapfile(&c)
		if err := in.checkPacket(f, &p); err != nil {
			return nil, err
		}
		if keep {
			f.mem = append(f.mem, memPacket{off: len(in.arena), caplen: len(p.data), length: p.length, ts: p.ts, linkType: p.linkType,
				queue: int32(p.queue), dir: p.dir})
			in.arena = append(in.arena, p.data...)
		}
	}
	if keep && f.mem == nil {
		f.mem = []memPacket{} // loaded, and empty
	}
	return f, nil
}

// errInterrupted is what a read blocked on a stream returns when the
// replay's context ends.
var errInterrupted = errors.New("interrupted")

// openReader opens a file ("-" is standard input) and its capture reader;
// stream is the reader of a pipe or FIFO, which can be read only once (nil
// for a regular file, which can be opened again for another pass). br is
// the read-ahead to use, nil for in.br.
func (in *inputs) openReader(ctx context.Context, name string, br *bufio.Reader) (r *capfile.Reader, closeFile func(), stream *streamReader, err error) {
	var f *os.File
	size := int64(-1)
	regular := false
	if name == "-" {
		f = os.Stdin
	} else {
		st, err := os.Stat(name)
		if err != nil {
			return nil, nil, nil, &inputError{file: name, msg: strings.TrimPrefix(strings.TrimPrefix(err.Error(), "stat "+name+": "), "open "+name+": ")}
		}
		if st.IsDir() {
			return nil, nil, nil, &inputError{file: name, msg: "is a directory"}
		}
		regular = st.Mode().IsRegular()
		if regular {
			size = st.Size()
		}
		if f, err = openCtx(ctx, name, !regular); err != nil {
			if errors.Is(err, errInterrupted) {
				return nil, nil, nil, &inputError{file: name, msg: "interrupted while waiting for a writer"}
			}
			return nil, nil, nil, &inputError{file: name, msg: strings.TrimPrefix(err.Error(), "open "+name+": ")}
		}
		if regular {
			// It could have been replaced since the stat.
			if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
				regular, size = false, -1
			} else {
				size = st.Size()
			}
		}
	}
	var src io.Reader = f
	closeFile = func() {
		if f != os.Stdin {
			f.Close()
		}
	}
	if !regular {
		sr := newStreamReader(ctx, f)
		src, stream = sr, sr
		closeFile = func() {
			sr.stop()
			if f != os.Stdin {
				f.Close()
			}
		}
	}
	if br == nil {
		br = in.br
	}
	br.Reset(src)
	r, err = capfile.NewReader(br, name, size, &capfile.Options{CheckLength: in.lim.check})
	if err != nil {
		closeFile()
		if ctx.Err() != nil && !regular {
			return nil, nil, nil, &inputError{file: name, msg: "interrupted while reading its header"}
		}
		return nil, nil, nil, err
	}
	return r, closeFile, stream, nil
}

// openCtx opens name; a FIFO's open, which waits for a writer, is given up
// when ctx ends (the goroutine left behind closes the file if a writer
// comes later).
func openCtx(ctx context.Context, name string, mayBlock bool) (*os.File, error) {
	if !mayBlock {
		return os.Open(name)
	}
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := os.Open(name)
		ch <- result{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.f != nil {
				r.f.Close()
			}
		}()
		return nil, errInterrupted
	}
}

// streamChunk is the size of each read from a stream. Two are in flight
// at most: with the 1 MiB read-ahead, that bounds what a stream holds in
// memory besides the record being read.
const streamChunk = 64 << 10

// streamReader reads a pipe or FIFO in a goroutine, so that a read that
// blocks (a silent writer) does not hold up a stop: Read returns
// errInterrupted as soon as ctx ends.
type streamReader struct {
	ctx  context.Context
	full chan streamRead
	free chan []byte
	quit chan struct{}
	buf  []byte // the chunk being consumed
	cur  []byte // what is left of it
	err  error  // the error that came with it

	// idle, when set, is called when Read has nothing left and is about
	// to wait for the writer: the replay sends the frames it gathered
	// then, so a live pipe's frames do not wait for the next ones. Its
	// error ends the Read.
	idle func() error
}

type streamRead struct {
	buf []byte
	n   int
	err error
}

func newStreamReader(ctx context.Context, r io.Reader) *streamReader {
	s := &streamReader{ctx: ctx, full: make(chan streamRead, 2), free: make(chan []byte, 2), quit: make(chan struct{})}
	s.free <- make([]byte, streamChunk)
	s.free <- make([]byte, streamChunk)
	go s.pump(r)
	return s
}

func (s *streamReader) pump(r io.Reader) {
	for {
		var b []byte
		select {
		case b = <-s.free:
		case <-s.quit:
			return
		}
		n, err := r.Read(b)
		select {
		case s.full <- streamRead{b, n, err}:
		case <-s.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *streamReader) Read(p []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.buf != nil {
			s.free <- s.buf // never blocks: it holds every buffer
			s.buf = nil
		}
		if s.err != nil {
			return 0, s.err
		}
		if s.idle != nil && len(s.full) == 0 {
			if err := s.idle(); err != nil {
				return 0, err
			}
		}
		select {
		case c := <-s.full:
			s.buf, s.cur, s.err = c.buf, c.buf[:c.n], c.err
		case <-s.ctx.Done():
			return 0, errInterrupted
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// stop ends the pump (once its read returns: closing the file ends it).
func (s *streamReader) stop() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
}

// linkTypeEthernet is LINKTYPE_ETHERNET, which -strip-l2 turns into IP
// (which link types each memif mode carries is layersglue.ModeCarries').
const linkTypeEthernet = 1

// checkLinkType refuses a link type the link's mode does not carry; num is
// the packet concerned, 0 for the file's header.
func (in *inputs) checkLinkType(f *inputFile, lt uint32, num int) error {
	if in.carries(lt) {
		return nil
	}
	msg := fmt.Sprintf("link type %s does not match -mode %s, which carries %s", layersglue.LinkTypeName(lt), in.mode, layersglue.LinkTypeName(layersglue.LinkTypeForMode(in.mode)))
	if in.mode == memifpcap.ModeIP {
		msg += " or IPV4/IPV6"
	}
	for _, m := range []memifpcap.Mode{memifpcap.ModeEthernet, memifpcap.ModeIP, memifpcap.ModePuntInject} {
		if m != in.mode && layersglue.ModeCarries(m, lt) {
			msg += fmt.Sprintf(" (use -mode %s)", m)
		}
	}
	if in.mode == memifpcap.ModeIP && lt == linkTypeEthernet {
		msg += ", or -strip-l2 to drop the Ethernet headers"
	}
	return &inputError{file: f.name, packet: num, msg: msg}
}

// carries reports whether the link takes frames of link type lt: those of
// its mode, and Ethernet with -strip-l2.
func (in *inputs) carries(lt uint32) bool {
	return layersglue.ModeCarries(in.mode, lt) || (in.stripL2 && lt == linkTypeEthernet)
}

// checkPacket refuses what the link cannot carry. (Records longer than the
// ring allows are refused by the reader, before being read.)
func (in *inputs) checkPacket(f *inputFile, p *packet) error {
	if len(p.data) == 0 {
		return &inputError{file: f.name, packet: p.num, msg: "empty record (0 bytes captured): memif cannot carry an empty frame"}
	}
	// Per packet: a pcapng file may describe new interfaces at any point.
	return in.checkLinkType(f, p.linkType, p.num)
}

// packetSource yields the packets of one file, for one pass.
type packetSource interface {
	next(p *packet) error // io.EOF at the end of the file
	close()
}

// open starts a pass over file i: from memory if it was loaded, from the
// stream opened by loadInputs for a pipe (once), else from disk again.
func (in *inputs) open(i int) (packetSource, error) {
	f := in.files[i]
	if f.mem != nil {
		return &memSource{f: f, arena: in.arena}, nil
	}
	if f.streamed {
		if in.ctx != nil && in.ctx.Err() != nil {
			return &memSource{f: f}, nil // stopping: nothing more
		}
		return nil, &inputError{file: f.name, msg: "is a pipe or FIFO, which can be read only once: -loop must be 1 (copy it to a file to replay it more often)"}
	}
	if f.stream != nil {
		s := f.stream
		f.stream, f.streamed = nil, true
		return s, nil
	}
	ctx := in.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	r, closeFile, _, err := in.openReader(ctx, f.name, nil)
	if err != nil {
		return nil, err
	}
	return &fileSource{in: in, f: f, r: r, closeFile: closeFile}, nil
}

type fileSource struct {
	in        *inputs
	f         *inputFile
	r         *capfile.Reader
	c         capfile.Packet
	closeFile func()
	stream    *streamReader // a pipe's or FIFO's, nil for a regular file
}

func (s *fileSource) next(p *packet) error {
	if err := s.r.Next(&s.c); err != nil {
		if err != io.EOF && s.in.ctx != nil && s.in.ctx.Err() != nil {
			return io.EOF // stopped while a read was blocked: not a fault of the file
		}
		return err
	}
	p.fromCapfile(&s.c)
	return s.in.checkPacket(s.f, p)
}

func (s *fileSource) close() { s.closeFile() }

type memSource struct {
	f     *inputFile
	arena []byte
	i     int
}

func (s *memSource) next(p *packet) error {
	if s.i == len(s.f.mem) {
		return io.EOF
	}
	m := &s.f.mem[s.i]
	s.i++
	// Field by field: a composite literal is built on the stack and
	// copied with 16-byte moves that wait for the stores before them
	// (the ring's, into lines the peer's CPU holds) to reach the cache.
	p.data = s.arena[m.off : m.off+m.caplen : m.off+m.caplen]
	p.ts, p.length, p.linkType, p.num = m.ts, m.length, m.linkType, s.i
	p.queue, p.dir = int(m.queue), m.dir
	return nil
}

// take appends up to max of the file's next frames to b, as file's loop
// would with nothing to decide per frame (memBatches), and returns how
// many: 0 at the end of the file.
func (s *memSource) take(b *batch, max int) int {
	k := min(max, len(s.f.mem)-s.i)
	n := len(b.frames)
	b.frames = b.frames[:n+k]
	frames := b.frames[n:]
	for j, m := range s.f.mem[s.i : s.i+k] {
		fr := &frames[j]
		fr.data = s.arena[m.off : m.off+m.caplen : m.off+m.caplen]
		fr.off, fr.size, fr.num = 0, m.caplen, s.i+j+1
		fr.trunc, fr.flow = m.caplen < m.length, 0
	}
	s.i += k
	return k
}

func (s *memSource) close() {}
