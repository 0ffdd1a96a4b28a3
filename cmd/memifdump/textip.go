package main

// IPv4 and IPv6 in tcpdump's line: addresses and ports, fragments, -v's
// header fields, and the transports: TCP (texttcp.go), UDP, ICMP, ICMPv6.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

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
	case layers.ICMPv4TypeDestinationUnreachable:
		b = appendUnreachable(b, p)
	case layers.ICMPv4TypeTimeExceeded:
		switch p[1] {
		case 0:
			b = append(b, "ICMP time exceeded in-transit"...)
		case 1:
			b = append(b, "ICMP ip reassembly time exceeded"...)
		default:
			b = append(b, "ICMP time exceeded-#"...)
			b = strconv.AppendUint(b, uint64(p[1]), 10)
		}
	default:
		b = append(b, "ICMP "...)
		b = append(b, layers.CreateICMPv4TypeCode(p[0], p[1]).String()...)
	}
	b = append(b, ", length "...)
	return strconv.AppendInt(b, int64(length), 10)
}

// appendUnreachable is tcpdump's ICMP destination unreachable for the
// codes seen most (net, host, protocol, port), from the IP header and the
// first transport bytes the message quotes; other codes by gopacket's name.
func appendUnreachable(b, p []byte) []byte {
	in := p[8:]
	if len(in) < 20 || in[0]>>4 != 4 || p[1] > 3 {
		b = append(b, "ICMP "...)
		return append(b, layers.CreateICMPv4TypeCode(p[0], p[1]).String()...)
	}
	b = append(b, "ICMP "...)
	dst, proto := in[16:20], in[9]
	switch p[1] {
	case 0:
		b = append(b, "net "...)
		b = appendIP(b, dst)
		return append(b, " unreachable"...)
	case 1:
		b = append(b, "host "...)
		b = appendIP(b, dst)
		return append(b, " unreachable"...)
	case 2:
		b = appendIP(b, dst)
		b = append(b, " protocol "...)
		b = strconv.AppendUint(b, uint64(proto), 10)
		return append(b, " unreachable"...)
	}
	hl := int(in[0]&0xf) * 4
	if len(in) < hl+4 {
		return append(b, "[|icmp]"...)
	}
	b = appendIP(b, dst)
	port := binary.BigEndian.Uint16(in[hl+2:])
	switch proto {
	case 6:
		b = append(b, " tcp port "...)
	case 17:
		b = append(b, " udp port "...)
	default:
		b = append(b, " protocol "...)
		b = strconv.AppendUint(b, uint64(proto), 10)
		b = append(b, " port "...)
	}
	b = strconv.AppendUint(b, uint64(port), 10)
	return append(b, " unreachable"...)
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
