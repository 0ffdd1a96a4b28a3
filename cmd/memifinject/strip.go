package main

import "encoding/binary"

// EtherTypes -strip-l2 looks for.
const (
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100 // 802.1Q
	etherTypeQinQ  = 0x88a8 // 802.1ad
	etherTypeQinQ1 = 0x9100 // pre-standard double tagging
)

// stripL2 returns the IPv4 or IPv6 packet an Ethernet frame carries,
// skipping any 802.1Q/802.1ad tags, and false for anything else (ARP, LLDP,
// a frame too short to hold its headers). Only the version nibble is
// checked against the EtherType: the receiving end decodes the rest.
func stripL2(frame []byte) ([]byte, bool) {
	t, off, ok := l3(frame)
	if !ok {
		return nil, false
	}
	ip := frame[off:]
	switch t {
	case etherTypeIPv4:
		return ip, len(ip) > 0 && ip[0]>>4 == 4
	case etherTypeIPv6:
		return ip, len(ip) > 0 && ip[0]>>4 == 6
	}
	return nil, false
}

// l3 walks an Ethernet header, 802.1Q/802.1ad tags included, and returns
// the EtherType of what follows and where that starts; ok is false when
// the frame ends first.
func l3(frame []byte) (etherType uint16, off int, ok bool) {
	off = 12
	for {
		if len(frame) < off+2 {
			return 0, 0, false
		}
		switch t := binary.BigEndian.Uint16(frame[off:]); t {
		case etherTypeVLAN, etherTypeQinQ, etherTypeQinQ1:
			off += 4
		default:
			return t, off + 2, true
		}
	}
}
