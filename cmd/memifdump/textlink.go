package main

// The link level of tcpdump's line: -e's Ethernet and 802.1Q header, the
// length tcpdump counts as the link-level header (what -x leaves out),
// ARP, and the ends of lines whose network header was cut.

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/google/gopacket/layers"
)

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
