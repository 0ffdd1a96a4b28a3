package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

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
	allowed []uint32 // the link types mode carries
	lim     ringLimit
	br      *bufio.Reader // reused for every streamed pass over a file
	arena   []byte        // the bytes of every preloaded packet
}

type inputFile struct {
	name string
	// mem holds the file's packets when it was loaded into memory
	// (-preload, or a file that cannot be read twice, such as a pipe);
	// nil means it is read from disk on every pass.
	mem []memPacket
}

type memPacket struct {
	off, caplen, length int // data is arena[off:off+caplen]
	ts                  time.Time
	linkType            uint32
}

// loadOptions say how much of each file to read before sending.
type loadOptions struct {
	preload  bool // read every file into memory
	noVerify bool // check only headers and link types, not every record
	stripL2  bool // -strip-l2: Ethernet captures go into an ip-mode link
}

// loadInputs opens every file, checks its format and link type against the
// link's mode, and then (unless noVerify) reads every record through,
// checking that each is whole and fits the ring; with preload it keeps
// them. Any fault is an *inputError naming the file and the packet.
func loadInputs(ctx context.Context, names []string, mode memifpcap.Mode, lim ringLimit, opt loadOptions) (*inputs, error) {
	in := &inputs{mode: mode, allowed: linkTypesFor(mode), lim: lim, br: bufio.NewReaderSize(nil, readBufferSize)}
	if opt.stripL2 {
		in.allowed = append(in.allowed, linkTypeEthernet)
	}
	for _, name := range names {
		f, err := in.load(ctx, name, opt)
		if err != nil {
			return nil, err
		}
		in.files = append(in.files, f)
	}
	return in, nil
}

func (in *inputs) load(ctx context.Context, name string, opt loadOptions) (*inputFile, error) {
	r, closeFile, regular, err := in.openReader(name)
	if err != nil {
		return nil, err
	}
	defer closeFile()
	f := &inputFile{name: name}
	// A pcapng file without an interface before its first packet has no
	// link type yet; its packets are checked one by one.
	if lt, ok := r.linkType(); ok {
		if err := in.checkLinkType(f, lt, 0); err != nil {
			return nil, err
		}
	}
	keep := opt.preload || !regular
	if !keep && opt.noVerify {
		return f, nil
	}
	var p packet
	for n := 1; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("%s: interrupted while checking it", name)
		}
		err := r.next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := in.checkPacket(f, &p); err != nil {
			return nil, err
		}
		if keep {
			f.mem = append(f.mem, memPacket{off: len(in.arena), caplen: len(p.data), length: p.length, ts: p.ts, linkType: p.linkType})
			in.arena = append(in.arena, p.data...)
		}
	}
	if keep && f.mem == nil {
		f.mem = []memPacket{} // loaded, and empty
	}
	return f, nil
}

// openReader opens a file and its capture reader; regular reports whether
// it can be opened again for another pass.
func (in *inputs) openReader(name string) (r captureReader, closeFile func(), regular bool, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, false, &inputError{file: name, msg: strings.TrimPrefix(err.Error(), "open "+name+": ")}
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size, regular = st.Size(), true
	} else if err == nil && st.IsDir() {
		f.Close()
		return nil, nil, false, &inputError{file: name, msg: "is a directory"}
	}
	in.br.Reset(f)
	r, err = newCaptureReader(name, in.br, size, in.lim)
	if err != nil {
		f.Close()
		return nil, nil, false, err
	}
	return r, func() { f.Close() }, regular, nil
}

// Link types (https://www.tcpdump.org/linktypes.html) and the memif modes
// that carry them: an ethernet link carries Ethernet frames, an ip link
// bare IPv4 and IPv6 packets, and a punt/inject link the opaque frames
// memifpcap labels LINKTYPE_USER0.
const (
	linkTypeEthernet = 1
	linkTypeRaw      = 101
	linkTypeUser0    = 147
	linkTypeIPv4     = 228
	linkTypeIPv6     = 229
)

func linkTypesFor(mode memifpcap.Mode) []uint32 {
	switch mode {
	case memifpcap.ModeIP:
		return []uint32{linkTypeRaw, linkTypeIPv4, linkTypeIPv6}
	case memifpcap.ModePuntInject:
		return []uint32{linkTypeUser0}
	}
	return []uint32{linkTypeEthernet}
}

func linkTypeName(lt uint32) string {
	switch lt {
	case linkTypeEthernet:
		return "EN10MB (Ethernet)"
	case linkTypeRaw:
		return "RAW (Raw IP)"
	case linkTypeUser0:
		return "USER0"
	case linkTypeIPv4:
		return "IPV4 (Raw IPv4)"
	case linkTypeIPv6:
		return "IPV6 (Raw IPv6)"
	case 0:
		return "NULL (BSD loopback)"
	case 113:
		return "LINUX_SLL (Linux cooked v1)"
	case 276:
		return "LINUX_SLL2 (Linux cooked v2)"
	case 105:
		return "IEEE802_11 (802.11)"
	}
	return fmt.Sprintf("%d", lt)
}

func modeName(mode memifpcap.Mode) string {
	switch mode {
	case memifpcap.ModeIP:
		return "ip"
	case memifpcap.ModePuntInject:
		return "punt-inject"
	}
	return "ethernet"
}

// checkLinkType refuses a link type the link's mode does not carry; num is
// the packet concerned, 0 for the file's header.
func (in *inputs) checkLinkType(f *inputFile, lt uint32, num int) error {
	if slices.Contains(in.allowed, lt) {
		return nil
	}
	want := in.allowed
	msg := fmt.Sprintf("link type %s does not match -mode %s, which carries %s", linkTypeName(lt), modeName(in.mode), linkTypeName(want[0]))
	if in.mode == memifpcap.ModeIP {
		msg += " or IPV4/IPV6"
	}
	for _, m := range []memifpcap.Mode{memifpcap.ModeEthernet, memifpcap.ModeIP, memifpcap.ModePuntInject} {
		if m != in.mode && slices.Contains(linkTypesFor(m), lt) {
			msg += fmt.Sprintf(" (use -mode %s)", modeName(m))
		}
	}
	if in.mode == memifpcap.ModeIP && lt == linkTypeEthernet {
		msg += ", or -strip-l2 to drop the Ethernet headers"
	}
	return &inputError{file: f.name, packet: num, msg: msg}
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

// open starts a pass over file i: from memory if it was loaded, else from
// disk again.
func (in *inputs) open(i int) (packetSource, error) {
	f := in.files[i]
	if f.mem != nil {
		return &memSource{f: f, arena: in.arena}, nil
	}
	r, closeFile, _, err := in.openReader(f.name)
	if err != nil {
		return nil, err
	}
	return &fileSource{in: in, f: f, r: r, closeFile: closeFile}, nil
}

type fileSource struct {
	in        *inputs
	f         *inputFile
	r         captureReader
	closeFile func()
}

func (s *fileSource) next(p *packet) error {
	if err := s.r.next(p); err != nil {
		return err
	}
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
	*p = packet{data: s.arena[m.off : m.off+m.caplen : m.off+m.caplen], ts: m.ts, length: m.length, linkType: m.linkType, num: s.i}
	return nil
}

func (s *memSource) close() {}
