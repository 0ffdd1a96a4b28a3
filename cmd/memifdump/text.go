package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
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

// isVLAN reports the ethertypes tcpdump takes for an 802.1Q tag.
func isVLAN(t uint16) bool { return t == 0x8100 || t == 0x88a8 || t == 0x9100 }

// linkHeaderLen is how many bytes of the frame tcpdump counts as its
// link-level header: Ethernet's 14 and 4 for each VLAN tag; none for raw
// IP and the link types it does not decode.
func linkHeaderLen(lt layers.LinkType, data []byte) int {
	if lt != layers.LinkTypeEthernet {
		return 0
	}
	n := 14
	for n+4 <= len(data) && isVLAN(binary.BigEndian.Uint16(data[n-2:])) {
		n += 4
	}
	return min(n, len(data))
}

// appendEtherHeader is tcpdump -e's Ethernet part:
//
//	02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 98:
//
// and for each 802.1Q tag "vlan 100, p 0, ethertype IPv4 (0x0800), ".
func appendEtherHeader(b, data []byte, length int) []byte {
	if len(data) < 14 {
		return append(b, "[|ether] "...)
	}
	b = appendMAC(b, data[6:12])
	b = append(b, " > "...)
	b = appendMAC(b, data[0:6])
	b = append(b, ", "...)
	t := binary.BigEndian.Uint16(data[12:])
	if t <= 1500 {
		b = append(b, "802.3, length "...)
		b = strconv.AppendInt(b, int64(length), 10)
		return append(b, ": "...)
	}
	b = appendEtherType(b, t)
	b = append(b, ", length "...)
	b = strconv.AppendInt(b, int64(length), 10)
	b = append(b, ": "...)
	for off := 14; isVLAN(t) && off+4 <= len(data); off += 4 {
		tci := binary.BigEndian.Uint16(data[off:])
		t = binary.BigEndian.Uint16(data[off+2:])
		b = append(b, "vlan "...)
		b = strconv.AppendUint(b, uint64(tci&0xfff), 10)
		b = append(b, ", p "...)
		b = strconv.AppendUint(b, uint64(tci>>13), 10)
		if tci&0x1000 != 0 {
			b = append(b, ", DEI"...)
		}
		b = append(b, ", "...)
		b = appendEtherType(b, t)
		b = append(b, ", "...)
	}
	return b
}

// etherTypes are the names tcpdump gives the common ethertypes.
var etherTypes = map[uint16]string{
	0x0800: "IPv4", 0x0806: "ARP", 0x86dd: "IPv6", 0x8100: "802.1Q", 0x88a8: "802.1Q-QinQ",
	0x9100: "802.1Q-9100", 0x8035: "Reverse ARP", 0x8847: "MPLS unicast", 0x8848: "MPLS multicast",
	0x8863: "PPPoE D", 0x8864: "PPPoE S", 0x88cc: "LLDP", 0x9000: "Loopback", 0x888e: "EAPOL",
	0x8809: "Slow Protocols", 0x88f7: "PTP",
}

// appendEtherType appends "ethertype IPv4 (0x0800)".
func appendEtherType(b []byte, t uint16) []byte {
	b = append(b, "ethertype "...)
	if name, ok := etherTypes[t]; ok {
		b = append(b, name...)
	} else {
		b = append(b, "Unknown"...)
	}
	b = append(b, " (0x"...)
	for i := 12; i >= 0; i -= 4 {
		b = append(b, hexDigits[(t>>i)&0xf])
	}
	return append(b, ')')
}

func appendMAC(b, mac []byte) []byte {
	for i, c := range mac {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendCutNetwork ends the line as tcpdump does when the snapshot length
// cut the IPv4 or IPv6 header: "IP  [|ip]", " [|ip]" when not one byte of
// it is there. cut is false when the header is whole (or not IP).
func appendCutNetwork(b []byte, lt layers.LinkType, data []byte, hdr int, named bool) (_ []byte, cut bool) {
	net := data[min(hdr, len(data)):]
	var version byte
	switch {
	case lt == layers.LinkTypeEthernet && hdr >= 14 && hdr <= len(data):
		switch binary.BigEndian.Uint16(data[hdr-2:]) {
		case 0x0800:
			version = 4
		case 0x86dd:
			version = 6
		}
	case lt == layers.LinkTypeRaw && len(net) > 0:
		version = net[0] >> 4
	}
	arp := lt == layers.LinkTypeEthernet && hdr >= 14 && hdr <= len(data) && binary.BigEndian.Uint16(data[hdr-2:]) == 0x0806
	var proto, name string
	switch {
	case version == 4 && (len(net) < 20 || len(net) < int(net[0]&0xf)*4):
		proto, name = " [|ip]", "IP "
	case version == 6 && len(net) < 40:
		proto = " [|ip6]"
	case arp && len(net) < 28:
		proto = " [|arp]"
	default:
		return b, false
	}
	if named && len(net) > 0 {
		b = append(b, name...)
	}
	return append(b, proto...), true
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

func (s *textSink) appendARP(b []byte, a *layers.ARP, named bool) []byte {
	if named {
		b = append(b, "ARP, "...)
	}
	if s.f.verbose > 0 {
		b = append(b, "Ethernet (len 6), IPv4 (len 4), "...)
	}
	ethIPv4 := a.AddrType == layers.LinkTypeEthernet && a.Protocol == layers.EthernetTypeIPv4 &&
		a.HwAddressSize == 6 && a.ProtAddressSize == 4
	if !ethIPv4 {
		return fmt.Appendf(b, "hardware %d, protocol 0x%04x, operation %d", a.AddrType, uint16(a.Protocol), a.Operation)
	}
	switch a.Operation {
	case layers.ARPRequest:
		b = append(b, "Request who-has "...)
		b = appendIP(b, a.DstProtAddress)
		if !allZero(a.DstHwAddress) {
			b = append(b, " ("...)
			b = appendMAC(b, a.DstHwAddress)
			b = append(b, ')')
		}
		b = append(b, " tell "...)
		b = appendIP(b, a.SourceProtAddress)
	case layers.ARPReply:
		b = append(b, "Reply "...)
		b = appendIP(b, a.SourceProtAddress)
		b = append(b, " is-at "...)
		b = appendMAC(b, a.SourceHwAddress)
	default:
		b = append(b, "Unknown ("...)
		b = strconv.AppendUint(b, uint64(a.Operation), 10)
		b = append(b, ')')
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(len(a.Contents)+len(a.Payload)), 10)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// appendIP appends a 4- or 16-byte address as tcpdump -n prints it
// (inet_ntop's form).
func appendIP(b []byte, ip []byte) []byte {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return append(b, '?')
	}
	return a.AppendTo(b)
}

// ipProtos are the IP protocol names of tcpdump -v.
var ipProtos = map[layers.IPProtocol]string{
	1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP", 51: "AH",
	58: "ICMPv6", 89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP", 0: "Options", 43: "Routing", 44: "Fragment", 60: "DSTOPT",
}

func appendProto(b []byte, p layers.IPProtocol) []byte {
	if name, ok := ipProtos[p]; ok {
		b = append(b, name...)
	} else {
		b = append(b, "unknown"...)
	}
	b = append(b, " ("...)
	b = strconv.AppendUint(b, uint64(p), 10)
	return append(b, ')')
}

func (s *textSink) appendIPv4(b []byte, ip *layers.IPv4, next []gopacket.Layer, named bool) []byte {
	if named {
		b = append(b, "IP "...)
	}
	if s.f.verbose > 0 {
		b = append(b, "(tos 0x"...)
		b = strconv.AppendUint(b, uint64(ip.TOS), 16)
		b = append(b, ", ttl "...)
		b = strconv.AppendUint(b, uint64(ip.TTL), 10)
		b = append(b, ", id "...)
		b = strconv.AppendUint(b, uint64(ip.Id), 10)
		b = append(b, ", offset "...)
		b = strconv.AppendUint(b, uint64(ip.FragOffset)*8, 10)
		b = append(b, ", flags ["...)
		var fl []string
		if ip.Flags&layers.IPv4MoreFragments != 0 {
			fl = append(fl, "+")
		}
		if ip.Flags&layers.IPv4DontFragment != 0 {
			fl = append(fl, "DF")
		}
		if ip.Flags&layers.IPv4EvilBit != 0 {
			fl = append(fl, "rsvd")
		}
		if len(fl) == 0 {
			fl = append(fl, "none")
		}
		b = append(b, strings.Join(fl, ", ")...)
		b = append(b, "], proto "...)
		b = appendProto(b, ip.Protocol)
		b = append(b, ", length "...)
		b = strconv.AppendUint(b, uint64(ip.Length), 10)
		b = append(b, ")\n    "...)
	}
	if ip.IHL < 5 {
		b = append(b, "bad-hlen "...)
		return strconv.AppendUint(b, uint64(ip.IHL)*4, 10)
	}
	src, dst := []byte(ip.SrcIP), []byte(ip.DstIP)
	payloadLen := int(ip.Length) - int(ip.IHL)*4
	if ip.FragOffset != 0 {
		// Not the first fragment: no transport header to show.
		b = appendIP(b, src)
		b = append(b, " > "...)
		b = appendIP(b, dst)
		b = append(b, ": ip-proto-"...)
		return strconv.AppendUint(b, uint64(ip.Protocol), 10)
	}
	if len(next) > 0 && next[0].LayerType() == gopacket.LayerTypeFragment {
		// gopacket leaves a first fragment undecoded; its transport
		// header is all there.
		next = gopacket.NewPacket(ip.Payload, ip.Protocol, gopacket.DecodeOptions{Lazy: true, NoCopy: true}).Layers()
	}
	return s.appendTransport(b, src, dst, ip.Protocol, payloadLen, ip.Payload, next)
}

func (s *textSink) appendIPv6(b []byte, ip *layers.IPv6, next []gopacket.Layer, named bool) []byte {
	if named {
		b = append(b, "IP6 "...)
	}
	if s.f.verbose > 0 {
		b = append(b, '(')
		if ip.TrafficClass != 0 {
			b = append(b, "class 0x"...)
			b = append(b, hexDigits[ip.TrafficClass>>4], hexDigits[ip.TrafficClass&0xf])
			b = append(b, ", "...)
		}
		if ip.FlowLabel != 0 {
			b = fmt.Appendf(b, "flowlabel 0x%05x, ", ip.FlowLabel)
		}
		b = append(b, "hlim "...)
		b = strconv.AppendUint(b, uint64(ip.HopLimit), 10)
		b = append(b, ", next-header "...)
		b = appendProto(b, ip.NextHeader)
		b = append(b, " payload length: "...)
		b = strconv.AppendUint(b, uint64(ip.Length), 10)
		b = append(b, ") "...)
	}
	src, dst := []byte(ip.SrcIP), []byte(ip.DstIP)
	proto, length := ip.NextHeader, int(ip.Length)
	if proto == layers.IPProtocolIPv6Fragment {
		// Read from the bytes: gopacket decodes no fragment header cut
		// short, and tcpdump needs only its first four bytes.
		p := ip.Payload
		b = appendIP(b, src)
		b = append(b, " > "...)
		b = appendIP(b, dst)
		if len(p) < 4 {
			return append(b, ":  [|frag6]"...)
		}
		off := int(binary.BigEndian.Uint16(p[2:]) &^ 7)
		length -= 8
		b = append(b, ": frag ("...)
		b = strconv.AppendInt(b, int64(off), 10)
		b = append(b, '|')
		b = strconv.AppendInt(b, int64(length), 10)
		b = append(b, ')')
		if off != 0 {
			return b
		}
		b = append(b, ' ')
		if len(p) <= 8 {
			return b // nothing of the next header to show
		}
		proto := layers.IPProtocol(p[0])
		rest := gopacket.NewPacket(p[8:], proto, gopacket.DecodeOptions{Lazy: true, NoCopy: true}).Layers()
		return s.appendTransportNoAddrs(b, proto, length, p[8:], rest)
	}
	return s.appendTransport(b, src, dst, proto, length, ip.Payload, next)
}

// appendTransport appends "src > dst: " (with ports for TCP and UDP) and
// the transport's description. length is the IP payload's length, as the
// IP header gives it; payload is what of it was captured.
func (s *textSink) appendTransport(b, src, dst []byte, proto layers.IPProtocol, length int, payload []byte, next []gopacket.Layer) []byte {
	ports := (proto == layers.IPProtocolTCP || proto == layers.IPProtocolUDP) && len(payload) >= 4
	b = appendIP(b, src)
	if ports {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(payload)), 10)
	}
	b = append(b, " > "...)
	b = appendIP(b, dst)
	if ports {
		b = append(b, '.')
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(payload[2:])), 10)
	}
	b = append(b, ": "...)
	return s.appendTransportNoAddrs(b, proto, length, payload, next)
}

// appendTransportNoAddrs is appendTransport after the addresses (an IPv6
// first fragment has printed them before "frag"). A header cut short by
// the snapshot length ends the line as tcpdump's does: " [|udp]".
func (s *textSink) appendTransportNoAddrs(b []byte, proto layers.IPProtocol, length int, payload []byte, next []gopacket.Layer) []byte {
	switch proto {
	case layers.IPProtocolTCP:
		if len(payload) < 4 {
			// No ports: tcpdump cuts right after "src > dst:".
			return append(b[:len(b)-1], " [|tcp]"...)
		}
		if len(payload) < 20 {
			return append(b, " [|tcp]"...)
		}
		if len(payload) < int(payload[12]>>4)*4 {
			return s.appendCutTCP(b, payload, length)
		}
	case layers.IPProtocolUDP:
		if len(payload) < 8 {
			return append(b, " [|udp]"...)
		}
		dns := binary.BigEndian.Uint16(payload) == 53 || binary.BigEndian.Uint16(payload[2:]) == 53
		if dns && !s.f.quiet && len(payload) < 8+12 {
			return append(b, " [|domain]"...)
		}
		if dns && !s.f.quiet && (len(next) < 2 || next[1].LayerType() != layers.LayerTypeDNS) {
			// The header is there, not all the rest: tcpdump stops
			// where it could not go on; here, after the header.
			b = appendDNSHead(b, dnsHeader(payload[8:]))
			return append(b, " [|domain]"...)
		}
	case layers.IPProtocolICMPv4:
		return appendICMPv4(b, payload, length)
	case layers.IPProtocolICMPv6:
		return appendICMPv6(b, payload, length)
	}
	if len(next) == 0 {
		b = append(b, "ip-proto-"...)
		b = strconv.AppendUint(b, uint64(proto), 10)
		b = append(b, ' ')
		return strconv.AppendInt(b, int64(length), 10)
	}
	switch l := next[0].(type) {
	case *layers.TCP:
		return s.appendTCP(b, l, length)
	case *layers.UDP:
		return s.appendUDP(b, l, next[1:])
	}
	return appendLayers(b, next)
}

// tcpFlags are tcpdump's letters, in its order.
var tcpFlags = [...]struct {
	bit  uint8
	name byte
}{{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'}, {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}}

func tcpFlagBits(t *layers.TCP) uint8 {
	var f uint8
	for i, on := range [...]bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if on {
			f |= 1 << i
		}
	}
	return f
}

// appendTCP is tcpdump -S's TCP: Flags [S.], seq, ack, win, urg,
// options, length, and the first line of HTTP on ports 80 and 8080.
func (s *textSink) appendTCP(b []byte, t *layers.TCP, ipLen int) []byte {
	length := ipLen - int(t.DataOffset)*4
	if s.f.quiet {
		b = append(b, "tcp "...)
		return strconv.AppendInt(b, int64(length), 10)
	}
	b = appendTCPFixed(b, t, length, s.f.verbose)
	if len(t.Options) > 0 {
		b = append(b, ", options ["...)
		for i, o := range t.Options {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTCPOption(b, o)
		}
		b = append(b, ']')
	}
	b = append(b, ", length "...)
	b = strconv.AppendInt(b, int64(length), 10)
	if length > 0 && (t.SrcPort == 80 || t.DstPort == 80 || t.SrcPort == 8080 || t.DstPort == 8080) {
		b = appendHTTP(b, t.Payload, length)
	}
	return b
}

// appendCutTCP is the line of a TCP header whose options the snapshot
// length cut (p holds the 20 fixed bytes): the fixed part, then the
// options as far as they go, as tcpdump prints them.
func (s *textSink) appendCutTCP(b, p []byte, ipLen int) []byte {
	be := binary.BigEndian
	t := &layers.TCP{Seq: be.Uint32(p[4:]), Ack: be.Uint32(p[8:]), DataOffset: p[12] >> 4, Window: be.Uint16(p[14:]), Urgent: be.Uint16(p[18:]),
		FIN: p[13]&0x01 != 0, SYN: p[13]&0x02 != 0, RST: p[13]&0x04 != 0, PSH: p[13]&0x08 != 0,
		ACK: p[13]&0x10 != 0, URG: p[13]&0x20 != 0, ECE: p[13]&0x40 != 0, CWR: p[13]&0x80 != 0}
	length := ipLen - int(t.DataOffset)*4
	if s.f.quiet {
		b = append(b, "tcp "...)
		return strconv.AppendInt(b, int64(length), 10)
	}
	b = appendTCPFixed(b, t, length, s.f.verbose)
	b = append(b, ", options ["...)
	opts := p[20:]
	for i := 0; ; {
		if i > 0 {
			b = append(b, ',')
		}
		if i >= len(opts) || (opts[i] > 1 && i+1 >= len(opts)) {
			return append(b, " [|tcp]"...)
		}
		o := layers.TCPOption{OptionType: layers.TCPOptionKind(opts[i]), OptionLength: 1}
		if opts[i] > 1 {
			o.OptionLength = opts[i+1]
		}
		n := int(o.OptionLength)
		if n < 1 || (opts[i] > 1 && n < 2) {
			return append(b, " [|tcp]"...) // a length that cannot be
		}
		if i+n > len(opts) {
			// tcpdump has printed the option's name when its data
			// runs out.
			b = append(b, tcpOptionName(o.OptionType)...)
			return append(b, " [|tcp]>"...)
		}
		if n >= 2 {
			o.OptionData = opts[i+2 : i+n]
		}
		b = appendTCPOption(b, o)
		i += n
	}
}

// appendTCPFixed appends what tcpdump prints of the fixed TCP header:
// Flags [S.], seq, ack, win, urg.
func appendTCPFixed(b []byte, t *layers.TCP, length, verbose int) []byte {
	flags := tcpFlagBits(t)
	b = append(b, "Flags ["...)
	if flags == 0 {
		b = append(b, "none"...)
	}
	for _, f := range tcpFlags {
		if flags&f.bit != 0 {
			b = append(b, f.name)
		}
	}
	b = append(b, ']')
	if length > 0 || t.SYN || t.FIN || t.RST || verbose > 1 {
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(t.Seq), 10)
		if length > 0 {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(t.Seq+uint32(length)), 10)
		}
	}
	if t.ACK {
		b = append(b, ", ack "...)
		b = strconv.AppendUint(b, uint64(t.Ack), 10)
	}
	b = append(b, ", win "...)
	b = strconv.AppendUint(b, uint64(t.Window), 10)
	if t.URG {
		b = append(b, ", urg "...)
		b = strconv.AppendUint(b, uint64(t.Urgent), 10)
	}
	return b
}

// tcpOptionName is tcpdump's name of a TCP option kind.
func tcpOptionName(k layers.TCPOptionKind) string {
	switch k {
	case layers.TCPOptionKindEndList:
		return "eol"
	case layers.TCPOptionKindNop:
		return "nop"
	case layers.TCPOptionKindMSS:
		return "mss"
	case layers.TCPOptionKindWindowScale:
		return "wscale"
	case layers.TCPOptionKindSACKPermitted:
		return "sackOK"
	case layers.TCPOptionKindSACK:
		return "sack"
	case layers.TCPOptionKindTimestamps:
		return "TS"
	}
	return "unknown-" + strconv.Itoa(int(k))
}

func appendTCPOption(b []byte, o layers.TCPOption) []byte {
	d := o.OptionData
	switch {
	case o.OptionType == layers.TCPOptionKindEndList:
		return append(b, "eol"...)
	case o.OptionType == layers.TCPOptionKindNop:
		return append(b, "nop"...)
	case o.OptionType == layers.TCPOptionKindMSS && len(d) == 2:
		b = append(b, "mss "...)
		return strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(d)), 10)
	case o.OptionType == layers.TCPOptionKindWindowScale && len(d) == 1:
		b = append(b, "wscale "...)
		return strconv.AppendUint(b, uint64(d[0]), 10)
	case o.OptionType == layers.TCPOptionKindSACKPermitted:
		return append(b, "sackOK"...)
	case o.OptionType == layers.TCPOptionKindSACK && len(d)%8 == 0:
		b = append(b, "sack "...)
		b = strconv.AppendInt(b, int64(len(d)/8), 10)
		b = append(b, ' ')
		for i := 0; i < len(d); i += 8 {
			b = append(b, '{')
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[i:])), 10)
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[i+4:])), 10)
			b = append(b, '}')
		}
		return b
	case o.OptionType == layers.TCPOptionKindTimestamps && len(d) == 8:
		b = append(b, "TS val "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d)), 10)
		b = append(b, " ecr "...)
		return strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[4:])), 10)
	}
	b = append(b, "unknown-"...)
	return strconv.AppendUint(b, uint64(o.OptionType), 10)
}

// httpMethods start the request lines tcpdump recognises.
var httpMethods = []string{"GET", "PUT", "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST", "BCOPY", "BMOVE",
	"MKCOL", "TRACE", "LABEL", "MERGE", "DELETE", "SEARCH", "UNLOCK", "REPORT", "UPDATE", "NOTIFY",
	"BDELETE", "CONNECT", "OPTIONS", "CHECKIN", "PROPFIND", "CHECKOUT", "CCM_POST", "SUBSCRIBE",
	"PROPPATCH", "BPROPFIND", "BPROPPATCH", "UNCHECKOUT", "MKACTIVITY", "MKWORKSPACE",
	"UNSUBSCRIBE", "RPC_CONNECT", "VERSION-CONTROL", "BASELINE-CONTROL"}

// appendHTTP is tcpdump's ": HTTP", with ": " and the first line when
// the segment starts with a request or status line ending in CRLF, and
// " [|http]" when the segment is cut before the line's end.
func appendHTTP(b, payload []byte, length int) []byte {
	b = append(b, ": HTTP"...)
	if !isHTTPLine(payload) {
		return b
	}
	end := -1
	for i := 0; i+1 < len(payload) && i < 300; i++ {
		if payload[i] == '\r' && payload[i+1] == '\n' {
			end = i
			break
		}
		if payload[i] < ' ' || payload[i] > '~' {
			return b
		}
	}
	if end < 0 {
		if len(payload) < length {
			// The line goes on past the snapshot length.
			b = append(b, " [|http]"...)
		}
		return b
	}
	b = append(b, ": "...)
	return append(b, payload[:end]...)
}

// isHTTPLine reports whether p starts as a request line (a method and a
// space) or a status line does.
func isHTTPLine(p []byte) bool {
	if bytes.HasPrefix(p, []byte("HTTP/")) {
		// tcpdump reads the first word to its space.
		return bytes.IndexByte(p, ' ') > 0
	}
	for _, m := range httpMethods {
		if len(p) > len(m) && p[len(m)] == ' ' && string(p[:len(m)]) == m {
			return true
		}
	}
	return false
}

// appendUDP is "UDP, length N", or DNS on port 53 as tcpdump prints it.
func (s *textSink) appendUDP(b []byte, u *layers.UDP, next []gopacket.Layer) []byte {
	length := int(u.Length) - 8
	if !s.f.quiet && len(next) > 0 {
		if d, ok := next[0].(*layers.DNS); ok && (u.SrcPort == 53 || u.DstPort == 53) {
			return appendDNS(b, d, length)
		}
	}
	b = append(b, "UDP, length "...)
	return strconv.AppendInt(b, int64(length), 10)
}

// appendICMPv4 is tcpdump's ICMP: echo with its id and seq, other types
// by gopacket's name, and the length. It reads the message's bytes, p,
// itself: a message cut short is " [|icmp]".
func appendICMPv4(b, p []byte, length int) []byte {
	if len(p) < 8 {
		return append(b, " [|icmp]"...)
	}
	switch p[0] {
	case layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply:
		b = append(b, "ICMP echo "...)
		if p[0] == layers.ICMPv4TypeEchoRequest {
			b = append(b, "request"...)
		} else {
			b = append(b, "reply"...)
		}
		b = append(b, ", id "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(p[4:])), 10)
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(p[6:])), 10)
	default:
		b = append(b, "ICMP "...)
		b = append(b, layers.CreateICMPv4TypeCode(p[0], p[1]).String()...)
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(length), 10)
}

// icmp6Types are the ICMPv6 messages tcpdump's line describes, by type:
// the name, and the length the description needs.
var icmp6Types = map[uint8]struct {
	name string
	need int
}{
	128: {"echo request", 8}, 129: {"echo reply", 8},
	133: {"router solicitation", 1}, 134: {"router advertisement", 1},
	135: {"neighbor solicitation", 24}, 136: {"neighbor advertisement", 24},
}

// appendICMPv6 is tcpdump's ICMP6 line: echo with id and seq, neighbour
// discovery with its target, other types by gopacket's name; a message cut
// short ends in " [|icmp6]", after its name when the type is there.
func appendICMPv6(b, p []byte, length int) []byte {
	if len(p) < 1 {
		return append(b, " [|icmp6]"...)
	}
	b = append(b, "ICMP6, "...)
	m, ok := icmp6Types[p[0]]
	switch {
	case !ok && len(p) < 2:
		b = append(b[:len(b)-len("ICMP6, ")], " [|icmp6]"...)
		return b
	case !ok:
		b = append(b, layers.CreateICMPv6TypeCode(p[0], p[1]).String()...)
	case len(p) < m.need:
		b = append(b, m.name...)
		return append(b, " [|icmp6]"...)
	default:
		b = append(b, m.name...)
		switch p[0] {
		case 128, 129:
			b = append(b, ", id "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(p[4:])), 10)
			b = append(b, ", seq "...)
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(p[6:])), 10)
		case 135:
			b = append(b, ", who has "...)
			b = appendIP(b, p[8:24])
		case 136:
			b = append(b, ", tgt is "...)
			b = appendIP(b, p[8:24])
		}
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(length), 10)
}

// dnsRcodes are tcpdump's names of the response codes it prints.
var dnsRcodes = [...]string{"", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused", " YXDomain",
	" YXRRSet", " NXRRSet", " NotAuth", " NotZone"}

// dnsOps are tcpdump's names of the opcodes ("" for a query).
var dnsOps = [...]string{"", " inv_q", " stat", " op3", " notify", " update", " op6", " op7",
	" op8", " updateA", " updateD", " updateDA", " updateM", " updateMA", " zoneInit", " zoneRef"}

// appendDNS is tcpdump's DNS without -v: the id and flags, the counts,
// the questions of a query and the answers of a response, the length.
func appendDNS(b []byte, d *layers.DNS, length int) []byte {
	b = appendDNSHead(b, d)
	if d.QR {
		b = fmt.Appendf(b, " %d/%d/%d", d.ANCount, d.NSCount, d.ARCount)
		for i, rr := range d.Answers {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendDNSRecord(b, &rr)
		}
	} else {
		for _, q := range d.Questions {
			b = append(b, ' ')
			b = appendDNSType(b, q.Type)
			b = append(b, "? "...)
			b = appendDNSName(b, q.Name)
		}
	}
	b = append(b, " ("...)
	b = strconv.AppendInt(b, int64(length), 10)
	return append(b, ')')
}

// appendDNSHead is what tcpdump prints of a DNS message before its
// questions: the id and flags, and for a query the counts.
func appendDNSHead(b []byte, d *layers.DNS) []byte {
	b = strconv.AppendUint(b, uint64(d.ID), 10)
	b = append(b, dnsOps[d.OpCode&0xf]...)
	if d.QR {
		if int(d.ResponseCode) < len(dnsRcodes) {
			b = append(b, dnsRcodes[d.ResponseCode]...)
		} else {
			b = append(b, " Resp"...)
			b = strconv.AppendUint(b, uint64(d.ResponseCode), 10)
		}
		if d.AA {
			b = append(b, '*')
		}
		if !d.RA {
			b = append(b, '-')
		}
		if d.TC {
			b = append(b, '|')
		}
		if d.Z&2 != 0 {
			b = append(b, '$')
		}
		if d.QDCount != 1 {
			b = fmt.Appendf(b, " [%dq]", d.QDCount)
		}
		return b
	}
	if d.RD {
		b = append(b, '+')
	}
	if d.Z&1 != 0 {
		b = append(b, '%')
	}
	for _, c := range []struct {
		n    uint16
		name string
	}{{d.ANCount, "a"}, {d.NSCount, "n"}, {d.ARCount, "au"}} {
		if c.n > 0 {
			b = fmt.Appendf(b, " [%d%s]", c.n, c.name)
		}
	}
	if d.QDCount != 1 {
		b = fmt.Appendf(b, " [%dq]", d.QDCount)
	}
	return b
}

// dnsHeader reads the 12-byte header of a DNS message gopacket could not
// decode whole (the snapshot length cut it).
func dnsHeader(p []byte) *layers.DNS {
	f := binary.BigEndian.Uint16(p[2:])
	return &layers.DNS{
		ID: binary.BigEndian.Uint16(p), QR: f&0x8000 != 0, OpCode: layers.DNSOpCode(f >> 11 & 0xf),
		AA: f&0x0400 != 0, TC: f&0x0200 != 0, RD: f&0x0100 != 0, RA: f&0x0080 != 0, Z: uint8(f>>4) & 7,
		ResponseCode: layers.DNSResponseCode(f & 0xf),
		QDCount:      binary.BigEndian.Uint16(p[4:]), ANCount: binary.BigEndian.Uint16(p[6:]),
		NSCount: binary.BigEndian.Uint16(p[8:]), ARCount: binary.BigEndian.Uint16(p[10:]),
	}
}

func appendDNSType(b []byte, t layers.DNSType) []byte {
	switch t {
	case layers.DNSTypeA, layers.DNSTypeAAAA, layers.DNSTypeTXT, layers.DNSTypeCNAME, layers.DNSTypeMX,
		layers.DNSTypeNS, layers.DNSTypePTR, layers.DNSTypeSOA, layers.DNSTypeSRV, layers.DNSTypeOPT:
		return append(b, t.String()...)
	}
	b = append(b, "Type"...)
	return strconv.AppendUint(b, uint64(t), 10)
}

func appendDNSName(b, name []byte) []byte {
	b = append(b, name...)
	return append(b, '.')
}

func appendDNSRecord(b []byte, rr *layers.DNSResourceRecord) []byte {
	b = append(b, ' ')
	b = appendDNSType(b, rr.Type)
	switch rr.Type {
	case layers.DNSTypeA, layers.DNSTypeAAAA:
		b = append(b, ' ')
		return appendIP(b, rr.IP)
	case layers.DNSTypeCNAME:
		b = append(b, ' ')
		return appendDNSName(b, rr.CNAME)
	case layers.DNSTypeNS:
		b = append(b, ' ')
		return appendDNSName(b, rr.NS)
	case layers.DNSTypePTR:
		b = append(b, ' ')
		return appendDNSName(b, rr.PTR)
	case layers.DNSTypeTXT:
		for _, t := range rr.TXTs {
			b = append(b, ' ', '"')
			b = append(b, t...)
			b = append(b, '"')
		}
	}
	return b
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
