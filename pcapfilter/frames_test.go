package pcapfilter

import "encoding/binary"

// generatedFrames are the encapsulations the captures lack: VLAN, QinQ,
// MPLS, PPPoE, ARP, IPv6 with a fragment header, IPv4 fragments, VXLAN.
func generatedFrames() [][]byte {
	mac := func(dst, src byte) []byte {
		return []byte{0x01, 0, 0x5e, 0, 0, dst, 0x02, 0, 0, 0, 0, src}
	}
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	ipv4 := func(proto byte, frag uint16, src, dst [4]byte, payload []byte) []byte {
		h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		binary.BigEndian.PutUint16(h[6:], frag)
		h = append(h, src[:]...)
		h = append(h, dst[:]...)
		return append(h, payload...)
	}
	ipv6 := func(nxt byte, payload []byte) []byte {
		h := []byte{0x60, 0, 0, 0, 0, 0, nxt, 64}
		binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
		h = append(h, 0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
		h = append(h, 0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2)
		return append(h, payload...)
	}
	udp := func(sp, dp uint16, n int) []byte {
		b := append(u16(sp), u16(dp)...)
		b = append(b, u16(uint16(8+n))...)
		return append(append(b, 0, 0), make([]byte, n)...)
	}
	tcp := func(sp, dp uint16, flags byte) []byte {
		b := append(u16(sp), u16(dp)...)
		b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0)
		return b
	}
	a := [4]byte{10, 77, 0, 1}
	b := [4]byte{10, 77, 0, 2}
	bc := [4]byte{255, 255, 255, 255}
	mc := [4]byte{224, 0, 0, 251}
	var out [][]byte
	eth := func(et uint16, payload []byte, tags ...uint16) []byte {
		f := mac(1, 2)
		for _, t := range tags {
			f = append(f, u16(t)...)
		}
		f = append(f, u16(et)...)
		return append(f, payload...)
	}
	ip4udp := ipv4(17, 0, a, b, udp(5353, 53, 12))
	ip4tcp := ipv4(6, 0, a, b, tcp(40000, 80, 0x12))
	ip6udp := ipv6(17, udp(53, 5353, 20))
	ip6tcp := ipv6(6, tcp(443, 40001, 0x02))
	ip6frag := ipv6(44, append([]byte{17, 0, 0, 1, 0, 0, 0, 7}, udp(53, 53, 8)...))
	ip6hop := ipv6(0, append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, tcp(80, 80, 0x10)...))
	icmp6 := ipv6(58, []byte{128, 0, 0, 0, 0, 1, 0, 1})
	for _, p := range [][]byte{ip4udp, ip4tcp, ip6udp, ip6tcp, ip6frag, ip6hop, icmp6,
		ipv4(17, 0x2000, a, b, udp(53, 53, 30)), ipv4(17, 0x00b9, a, b, udp(53, 53, 30)),
		ipv4(1, 0, a, bc, []byte{8, 0, 0, 0, 0, 1, 0, 1}), ipv4(2, 0, a, mc, []byte{0x16, 0, 0, 0}),
		ipv4(132, 0, b, a, udp(9, 80, 16)), ipv4(112, 0, a, mc, make([]byte, 20)),
		ipv4(103, 0, a, b, make([]byte, 20)), ipv4(50, 0, a, b, make([]byte, 20)),
		ipv4(51, 0, a, b, make([]byte, 20)), ipv4(17, 0, [4]byte{}, b, udp(68, 67, 40)),
		ipv6(50, make([]byte, 16)), ipv6(103, make([]byte, 16)), ipv6(132, udp(1000, 2000, 8)),
	} {
		et := uint16(0x800)
		if p[0]>>4 == 6 {
			et = 0x86dd
		}
		out = append(out, eth(et, p), eth(et, p, 0x8100, 100), eth(et, p, 0x8100, 200),
			eth(et, p, 0x88a8, 10, 0x8100, 100), eth(et, p, 0x9100, 5, 0x8100, 4095),
			eth(0x8864, append([]byte{0x11, 0, 0, 5, 0, 0}, append(u16(map[uint16]uint16{0x800: 0x21, 0x86dd: 0x57}[et]), p...)...)))
		// MPLS: one label, two labels
		out = append(out, eth(0x8847, append([]byte{0, 0x05, 0x01, 64}, p...)),
			eth(0x8847, append([]byte{0, 0x07, 0x00, 64, 0, 0x05, 0x01, 64}, p...)))
	}
	arp := append([]byte{0, 1, 8, 0, 6, 4, 0, 1}, mac(0, 2)[6:]...)
	arp = append(arp, a[:]...)
	arp = append(arp, 0, 0, 0, 0, 0, 0)
	arp = append(arp, b[:]...)
	out = append(out, eth(0x806, arp), eth(0x8035, arp), eth(0x806, arp, 0x8100, 100))
	bcast := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac(0, 9)[6:]...)
	out = append(out, append(append(bcast, 0x08, 0x06), arp...))
	out = append(out, eth(0x8863, []byte{0x11, 0x09, 0, 0, 0, 0}))
	// VXLAN and Geneve over UDP, carrying an Ethernet frame.
	inner := eth(0x800, ip4udp)
	out = append(out, eth(0x800, ipv4(17, 0, a, b, append(udp(4789, 4789, 0)[:8], append([]byte{8, 0, 0, 0, 0, 0, 0x64, 0}, inner...)...))))
	out = append(out, eth(0x800, ipv4(17, 0, a, b, append(udp(6081, 6081, 0)[:8], append([]byte{0, 0, 0x65, 0x58, 0, 0, 0x64, 0}, inner...)...))))
	out = append(out, make([]byte, 14), []byte{})
	return out
}
