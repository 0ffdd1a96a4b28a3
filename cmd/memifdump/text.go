package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// textFormat is what tcpdump's printing flags ask of each line.
type textFormat struct {
	nano     bool // -nano: nine fraction digits
	stamp    int  // the -t count: tsDefault, tsNone, ...
	number   bool // -#: the packet's number first
	link     bool // -e: the link-level header
	quiet    bool // -q: less protocol detail
	verbose  int  // -v count: the IP header's fields
	hex      int  // -x count: 2 dumps the link-level header too
	hexASCII int  // -X count, as -x with ASCII
	ascii    int  // -A count
}

// textSink prints one line per frame, as tcpdump does without -w:
//
//	15:04:05.123456 IP 10.0.0.1.4000 > 10.0.0.2.53: UDP, length 32
//
// modelled on tcpdump -nn -S (numeric addresses and ports, absolute TCP
// sequence numbers) for Ethernet, 802.1Q, ARP, IPv4 and IPv6 (fragments
// included), ICMP, ICMPv6, TCP, UDP and DNS; other protocols are named by
// gopacket. The time stamp, the packet number, the link-level header and
// the dumps after the line follow tcpdump's flags byte for byte.
// Decoding allocates: this path is for reading, not for line rate.
type textSink struct {
	w         *bufio.Writer
	decoder   gopacket.Decoder
	f         textFormat
	flushEach bool
	line      []byte
	stamp     stamper
	n         uint64 // packets printed
}

func newTextSink(w io.Writer, linkType gopacket.Decoder, f textFormat, flushEach bool) *textSink {
	return &textSink{w: bufio.NewWriterSize(w, outputBuffer), decoder: linkType, f: f, flushEach: flushEach,
		stamp: stamper{mode: f.stamp, nano: f.nano}}
}

// appendStart appends what starts every line: -#'s number, the time.
func (s *textSink) appendStart(b []byte, ci gopacket.CaptureInfo) []byte {
	s.n++
	if s.f.number {
		// tcpdump's "%5u  ".
		start := len(b)
		b = strconv.AppendUint(b, s.n, 10)
		if pad := 5 - (len(b) - start); pad > 0 {
			b = append(b, "     "[:pad]...)
			copy(b[start+pad:], b[start:len(b)-pad])
			copy(b[start:start+pad], "     ")
		}
		b = append(b, ' ', ' ')
	}
	return s.stamp.appendStamp(b, ci.Timestamp)
}

func (s *textSink) writePacket(ci gopacket.CaptureInfo, data []byte) error {
	b := s.appendStart(s.line[:0], ci)
	// NoCopy: the packet is dropped before data goes back to the ring.
	p := gopacket.NewPacket(data, s.decoder, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	lt, _ := s.decoder.(layers.LinkType)
	hdr := linkHeaderLen(lt, data)
	named := true
	switch {
	case s.f.link && lt == layers.LinkTypeEthernet:
		b = appendEtherHeader(b, data, ci.Length)
		named = false // the ethertype said it
	case s.f.link && lt == layers.LinkTypeRaw:
		b = append(b, "ip: "...)
		named = false
	}
	if b2, cut := appendCutNetwork(b, lt, data, hdr, named); cut {
		return s.finish(b2, data, hdr)
	}
	if named && lt == layers.LinkTypeEthernet && !knownNetwork(p) {
		// tcpdump shows the Ethernet header of what it cannot decode
		// further, -e or not.
		b = appendEtherHeader(b, data, ci.Length)
		named = false
	}
	b = s.appendSummary(b, p, named)
	return s.finish(b, data, hdr)
}

// writeRaw prints a frame of a link type memifdump does not decode: the
// link type by number and, unless a dump follows, the first bytes in hex.
func (s *textSink) writeRaw(ci gopacket.CaptureInfo, lt uint32, data []byte) error {
	b := s.appendStart(s.line[:0], ci)
	b = append(b, "link type "...)
	b = strconv.AppendUint(b, uint64(lt), 10)
	b = append(b, ", not decoded, length "...)
	b = strconv.AppendInt(b, int64(ci.Length), 10)
	if len(data) > 0 && s.f.hex == 0 && s.f.hexASCII == 0 && s.f.ascii == 0 {
		show := data[:min(len(data), 32)]
		b = append(b, ": "...)
		for _, c := range show {
			b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
		}
		if len(show) < len(data) {
			b = append(b, "..."...)
		}
	}
	return s.finish(b, data, 0)
}

// finish appends the dump the flags ask for and the newline, and writes
// the line. hdr is the length of the link-level header, which -x, -X and
// -A leave out (and print nothing when nothing follows it).
func (s *textSink) finish(b, data []byte, hdr int) error {
	if hdr >= len(data) {
		// Nothing after the link-level header: tcpdump's printer stops
		// before it counts the header, and the dump shows the frame.
		hdr = 0
	}
	body := data[hdr:]
	switch {
	case s.f.hexASCII > 1:
		b = appendHexASCII(b, data)
	case s.f.hexASCII == 1:
		b = appendHexASCII(b, body)
	case s.f.hex > 1:
		b = appendHex(b, data)
	case s.f.hex == 1:
		b = appendHex(b, body)
	case s.f.ascii > 1:
		b = appendASCII(b, data)
	case s.f.ascii == 1 && len(body) > 0:
		b = appendASCII(b, body)
	}
	b = append(b, '\n')
	s.line = b
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("write standard output: %w", err)
	}
	if s.flushEach {
		if err := s.w.Flush(); err != nil {
			return fmt.Errorf("write standard output: %w", err)
		}
	}
	return nil
}

func (s *textSink) close() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write standard output: %w", err)
	}
	return nil
}

// knownNetwork reports whether the packet holds ARP, IPv4 or IPv6, which
// appendSummary describes as tcpdump does.
func knownNetwork(p gopacket.Packet) bool {
	return p.Layer(layers.LayerTypeARP) != nil || p.Layer(layers.LayerTypeIPv4) != nil || p.Layer(layers.LayerTypeIPv6) != nil
}

// appendSummary describes the packet as tcpdump would after the link
// layer. named is false after -e's ethertype, which tcpdump does not
// repeat ("IP ", "ARP, ", "IP6 ").
func (s *textSink) appendSummary(b []byte, p gopacket.Packet, named bool) []byte {
	ls := p.Layers()
	i := 0
	for i < len(ls) && (ls[i].LayerType() == layers.LayerTypeEthernet || ls[i].LayerType() == layers.LayerTypeDot1Q) {
		i++
	}
	if i == len(ls) {
		if i == 0 {
			return append(b, "nothing decoded"...)
		}
		return append(b, "[|ether]"...)
	}
	switch l := ls[i].(type) {
	case *layers.ARP:
		return s.appendARP(b, l, named)
	case *layers.IPv4:
		return s.appendIPv4(b, l, ls[i+1:], named)
	case *layers.IPv6:
		return s.appendIPv6(b, l, ls[i+1:], named)
	}
	return appendLayers(b, ls[i:])
}

// appendLayers describes layers tcpdump-like summaries do not cover, as
// gopacket names them, separated by commas.
func appendLayers(b []byte, ls []gopacket.Layer) []byte {
	for i, l := range ls {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendLayer(b, l)
	}
	return b
}

func appendLayer(b []byte, l gopacket.Layer) []byte {
	switch l := l.(type) {
	case *layers.Ethernet:
		b = appendMAC(b, l.SrcMAC)
		b = append(b, " > "...)
		b = appendMAC(b, l.DstMAC)
		b = append(b, ", "...)
		return appendEtherType(b, uint16(l.EthernetType))
	case *gopacket.Payload:
		return fmt.Appendf(b, "payload %d bytes", len(l.Payload()))
	case *gopacket.DecodeFailure:
		// gopacket keeps the layer that failed, with what it could read,
		// before this one.
		b = append(b, "undecodable"...)
		if n := len(l.LayerContents()); n > 0 {
			b = fmt.Appendf(b, " %d bytes", n)
		}
		return fmt.Appendf(b, ": %s", strings.TrimSpace(l.Error().Error()))
	}
	return append(b, l.LayerType().String()...)
}
