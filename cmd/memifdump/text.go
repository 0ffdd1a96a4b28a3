package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// textSink prints one line per frame, as tcpdump does without -w:
//
//	15:04:05.123456 length 74: Ethernet 02:00:00:00:00:01 > 02:00:00:00:00:02, IPv4 10.0.0.1 > 10.0.0.2, UDP 4000 > 53, payload 32 bytes
//
// The time is local (nanoseconds with -nano); ", captured N" follows the
// length when the frame was cut by -s or the filter. Decoding allocates:
// this path is for reading, not for line rate.
type textSink struct {
	w         *bufio.Writer
	decoder   gopacket.Decoder
	nano      bool
	flushEach bool
	line      []byte
}

func newTextSink(w io.Writer, linkType gopacket.Decoder, nano, flushEach bool) *textSink {
	return &textSink{w: bufio.NewWriterSize(w, outputBuffer), decoder: linkType, nano: nano, flushEach: flushEach}
}

func (s *textSink) writePacket(ci gopacket.CaptureInfo, data []byte) error {
	// NoCopy: the packet is dropped before data goes back to the ring.
	p := gopacket.NewPacket(data, s.decoder, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	b := s.line[:0]
	layout := "15:04:05.000000"
	if s.nano {
		layout = "15:04:05.000000000"
	}
	b = ci.Timestamp.Local().AppendFormat(b, layout)
	b = append(b, " length "...)
	b = strconv.AppendInt(b, int64(ci.Length), 10)
	if ci.CaptureLength < ci.Length {
		b = append(b, ", captured "...)
		b = strconv.AppendInt(b, int64(ci.CaptureLength), 10)
	}
	b = append(b, ": "...)
	b = appendSummary(b, p)
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

// appendSummary describes each layer gopacket decoded, in order, separated
// by commas.
func appendSummary(b []byte, p gopacket.Packet) []byte {
	for i, l := range p.Layers() {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendLayer(b, l)
	}
	if len(p.Layers()) == 0 {
		b = append(b, "nothing decoded"...)
	}
	return b
}

func appendLayer(b []byte, l gopacket.Layer) []byte {
	switch l := l.(type) {
	case *layers.Ethernet:
		return fmt.Appendf(b, "Ethernet %s > %s", l.SrcMAC, l.DstMAC)
	case *layers.Dot1Q:
		return fmt.Appendf(b, "802.1Q vlan %d", l.VLANIdentifier)
	case *layers.ARP:
		if l.Operation == layers.ARPReply {
			return fmt.Appendf(b, "ARP reply %s is-at %s", net.IP(l.SourceProtAddress), net.HardwareAddr(l.SourceHwAddress))
		}
		return fmt.Appendf(b, "ARP request who-has %s tell %s", net.IP(l.DstProtAddress), net.IP(l.SourceProtAddress))
	case *layers.IPv4:
		b = fmt.Appendf(b, "IPv4 %s > %s", l.SrcIP, l.DstIP)
		if l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0 {
			b = fmt.Appendf(b, " fragment offset %d", int(l.FragOffset)*8)
			if l.Flags&layers.IPv4MoreFragments != 0 {
				b = append(b, " more"...)
			}
		}
		return b
	case *layers.IPv6:
		return fmt.Appendf(b, "IPv6 %s > %s", l.SrcIP, l.DstIP)
	case *layers.IPv6Fragment:
		return fmt.Appendf(b, "IPv6 fragment offset %d", int(l.FragmentOffset)*8)
	case *layers.TCP:
		return fmt.Appendf(b, "TCP %d > %d [%s] seq %d", l.SrcPort, l.DstPort, tcpFlags(l), l.Seq)
	case *layers.UDP:
		return fmt.Appendf(b, "UDP %d > %d", l.SrcPort, l.DstPort)
	case *layers.ICMPv4:
		b = fmt.Appendf(b, "ICMPv4 %s", l.TypeCode)
		switch l.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply:
			b = fmt.Appendf(b, " id %d seq %d", l.Id, l.Seq)
		}
		return b
	case *layers.ICMPv6:
		return fmt.Appendf(b, "ICMPv6 %s", l.TypeCode)
	case *layers.DNS:
		kind := "query"
		if l.QR {
			kind = "response"
		}
		b = fmt.Appendf(b, "DNS %s id %d", kind, l.ID)
		for _, q := range l.Questions {
			b = fmt.Appendf(b, " %s? %s", q.Type, q.Name)
		}
		return b
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

// tcpFlags spells the flags as tcpdump does: S F R P U E W, and "." for ACK.
func tcpFlags(t *layers.TCP) string {
	var f []byte
	for _, x := range []struct {
		on bool
		c  byte
	}{{t.SYN, 'S'}, {t.FIN, 'F'}, {t.RST, 'R'}, {t.PSH, 'P'}, {t.URG, 'U'}, {t.ECE, 'E'}, {t.CWR, 'W'}, {t.ACK, '.'}} {
		if x.on {
			f = append(f, x.c)
		}
	}
	if len(f) == 0 {
		return "none"
	}
	return string(f)
}
