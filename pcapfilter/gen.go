package pcapfilter

import (
	"fmt"
	"net/netip"
	"strings"
)

// linkState is where the parser stands in the packet. vlan, mpls and pppoes
// move it for every primitive parsed after them, wherever those sit in the
// expression: libpcap's semantics, which pcap-filter(7) documents.
type linkState struct {
	offLinkType int  // offset of the EtherType (or PPP protocol) field
	offNl       int  // offset of the network-layer header
	mplsDepth   int  // labels seen so far
	ppp         bool // after pppoes: the type field is PPP's
}

type compiler struct {
	link     LinkType
	snaplen  uint32
	netmask  uint32
	state    linkState
	nscratch int
}

var protoNumber = map[int]uint32{
	qTCP: 6, qUDP: 17, qICMP: 1, qIGMP: 2, qIGRP: 9, qPIM: 103, qVRRP: 112,
	qCARP: 112, qSCTP: 132, qICMPv6: 58, qAH: 51, qESP: 50,
}

const (
	etherIP   = 0x0800
	etherARP  = 0x0806
	etherRARP = 0x8035
	etherIPv6 = 0x86dd
	etherMPLS = 0x8847
)

func (c *compiler) linkDescription() string {
	switch c.link {
	case LinkTypeEthernet:
		return "Ethernet"
	case LinkTypeRaw:
		return "Raw IP"
	}
	return fmt.Sprintf("DLT %d", uint32(c.link))
}

// genLinktype is "the link layer says the payload is protocol etype".
func (c *compiler) genLinktype(t token, etype uint32) (*node, error) {
	s := c.state
	if s.mplsDepth > 0 {
		var ver uint32
		switch etype {
		case etherIP:
			ver = 0x40
		case etherIPv6:
			ver = 0x60
		default:
			return nil, &Error{Pos: t.pos, Msg: "unsupported protocol over mpls"}
		}
		bos := mcmp(uint32(s.offNl-2), 1, 1, 1)
		return and(bos, mcmp(uint32(s.offNl), 1, ver, 0xf0)), nil
	}
	switch c.link {
	case LinkTypeEthernet:
		if s.ppp {
			switch etype {
			case etherIP:
				etype = 0x21
			case etherIPv6:
				etype = 0x57
			}
			return cmp(uint32(s.offLinkType), 2, etype), nil
		}
		if etype <= 1500 {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("802.2 LLC protocol %d is not supported", etype)}
		}
		return cmp(uint32(s.offLinkType), 2, etype), nil
	case LinkTypeRaw:
		switch etype {
		case etherIP:
			return mcmp(0, 1, 0x40, 0xf0), nil
		case etherIPv6:
			return mcmp(0, 1, 0x60, 0xf0), nil
		}
		return constNode(false), nil
	}
	return nil, &Error{Pos: t.pos, Msg: c.linkDescription() + " link-layer type filtering not implemented"}
}

func (c *compiler) ipNotFrag() *node {
	return not(atom([]ins{load(2, uint32(c.state.offNl+6))}, jmpJSET|srcK, 0x1fff))
}

// genProto is "ip proto v", "ip6 proto v" (also behind one fragment header,
// as libpcap) or both.
func (c *compiler) genProto(t token, v uint32, proto int) (*node, error) {
	nl := uint32(c.state.offNl)
	switch proto {
	case qDefault:
		a, err := c.genProto(t, v, qIP)
		if err != nil {
			return nil, err
		}
		b, err := c.genProto(t, v, qIPv6)
		if err != nil {
			return nil, err
		}
		return or(a, b), nil
	case qIP:
		lt, err := c.genLinktype(t, etherIP)
		if err != nil {
			return nil, err
		}
		return and(lt, cmp(nl+9, 1, v)), nil
	case qIPv6:
		lt, err := c.genLinktype(t, etherIPv6)
		if err != nil {
			return nil, err
		}
		frag := and(cmp(nl+6, 1, 44), cmp(nl+40, 1, v))
		return and(lt, or(cmp(nl+6, 1, v), frag)), nil
	case qLink:
		return c.genLinktype(t, v)
	}
	return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("'%s proto' is bogus", qualName[proto])}
}

// genProtoAbbrev is a protocol name alone: "ip", "tcp", "arp"...
func (c *compiler) genProtoAbbrev(t token, proto int) (*node, error) {
	switch proto {
	case qIP:
		return c.genLinktype(t, etherIP)
	case qIPv6:
		return c.genLinktype(t, etherIPv6)
	case qARP:
		return c.genLinktype(t, etherARP)
	case qRARP:
		return c.genLinktype(t, etherRARP)
	case qTCP, qUDP, qSCTP, qPIM, qAH, qESP:
		return c.genProto(t, protoNumber[proto], qDefault)
	case qICMP, qIGMP, qIGRP, qVRRP, qCARP:
		return c.genProto(t, protoNumber[proto], qIP)
	case qICMPv6:
		return c.genProto(t, 58, qIPv6)
	case qLink:
		return nil, &Error{Pos: t.pos, Msg: "link layer applied in wrong context"}
	}
	return nil, &Error{Pos: t.pos, Msg: "syntax error at " + t.String()}
}

// genHost is host/net for an IPv4 address (libpcap's gen_host).
func (c *compiler) genHost(t token, addr, mask uint32, q quals) (*node, error) {
	typ := "host"
	if q.addr == qNet {
		typ = "net"
	}
	op := func(etype uint32, src, dst int) (*node, error) {
		one := func(off int) (*node, error) {
			lt, err := c.genLinktype(t, etype)
			if err != nil {
				return nil, err
			}
			return and(lt, mcmp(uint32(c.state.offNl+off), 4, addr, mask)), nil
		}
		switch q.dir {
		case qSrc:
			return one(src)
		case qDst:
			return one(dst)
		}
		a, err := one(src)
		if err != nil {
			return nil, err
		}
		b, err := one(dst)
		if err != nil {
			return nil, err
		}
		if q.dir == qAnd {
			return and(a, b), nil
		}
		return or(a, b), nil
	}
	switch q.proto {
	case qDefault:
		a, err := op(etherIP, 12, 16)
		if err != nil {
			return nil, err
		}
		b, err := op(etherARP, 14, 24)
		if err != nil {
			return nil, err
		}
		r, err := op(etherRARP, 14, 24)
		if err != nil {
			return nil, err
		}
		return or(or(a, b), r), nil
	case qIP:
		return op(etherIP, 12, 16)
	case qARP:
		return op(etherARP, 14, 24)
	case qRARP:
		return op(etherRARP, 14, 24)
	case qLink:
		return nil, &Error{Pos: t.pos, Msg: "link-layer modifier applied to " + typ}
	case qIPv6:
		return nil, &Error{Pos: t.pos, Msg: "'ip6' modifier applied to ip host"}
	}
	return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("'%s' modifier applied to %s", qualName[q.proto], typ)}
}

func (c *compiler) genHost6(t token, a netip.Addr, bits uint32, q quals) (*node, error) {
	typ := "host"
	if q.addr == qNet {
		typ = "net"
	}
	switch q.proto {
	case qDefault, qIPv6:
	case qLink:
		return nil, &Error{Pos: t.pos, Msg: "link-layer modifier applied to ip6 " + typ}
	default:
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("'%s' modifier applied to ip6 %s", qualName[q.proto], typ)}
	}
	b := a.As16()
	var words, masks [4]uint32
	for i := 0; i < 4; i++ {
		words[i] = uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
		switch {
		case bits >= uint32(32*(i+1)):
			masks[i] = 0xffffffff
		case bits <= uint32(32*i):
			masks[i] = 0
		default:
			masks[i] = 0xffffffff << (32 - (bits - uint32(32*i)))
		}
	}
	one := func(off int) (*node, error) {
		lt, err := c.genLinktype(t, etherIPv6)
		if err != nil {
			return nil, err
		}
		var m *node = constNode(true)
		for i := 0; i < 4; i++ {
			m = and(m, mcmp(uint32(c.state.offNl+off+4*i), 4, words[i], masks[i]))
		}
		return and(lt, m), nil
	}
	switch q.dir {
	case qSrc:
		return one(8)
	case qDst:
		return one(24)
	}
	s, err := one(8)
	if err != nil {
		return nil, err
	}
	d, err := one(24)
	if err != nil {
		return nil, err
	}
	if q.dir == qAnd {
		return and(s, d), nil
	}
	return or(s, d), nil
}

// genPort is "[tcp|udp|sctp] port" over IPv4 (unfragmented or first fragment)
// and IPv6 (transport header right after the fixed header), as libpcap's.
func (c *compiler) genPort(t token, lo, hi uint32, q quals) (*node, error) {
	var protos []uint32
	switch q.proto {
	case qDefault:
		protos = []uint32{6, 17, 132}
	case qTCP:
		protos = []uint32{6}
	case qUDP:
		protos = []uint32{17}
	case qSCTP:
		protos = []uint32{132}
	default:
		what := "port"
		if q.addr == qPortRange {
			what = "portrange"
		}
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("illegal qualifier of '%s'", what)}
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	nl := uint32(c.state.offNl)
	portAtom := func(v6 bool, off uint32) *node {
		var ld ins
		if v6 {
			ld = load(2, nl+40+off)
		} else {
			ld = ins{op: clsLD | szH | modeIND, k: nl + off}
		}
		var st []ins
		if !v6 {
			st = append(st, ins{op: clsLDX | szB | modeMSH, k: nl})
		}
		st = append(st, ld)
		if q.addr == qPort {
			return atom(st, jmpJEQ|srcK, lo)
		}
		ge := atom(st, jmpJGE|srcK, lo)
		le := not(atom(cloneIns(st), jmpJGT|srcK, hi))
		return and(ge, le)
	}
	dirs := func(v6 bool) *node {
		switch q.dir {
		case qSrc:
			return portAtom(v6, 0)
		case qDst:
			return portAtom(v6, 2)
		case qAnd:
			return and(portAtom(v6, 0), portAtom(v6, 2))
		}
		return or(portAtom(v6, 0), portAtom(v6, 2))
	}
	// (p == tcp || p == udp || p == sctp) && ports is what libpcap's
	// optimiser makes of its per-protocol alternatives: same loads, same order.
	var p4, p6 *node = constNode(false), constNode(false)
	for _, pr := range protos {
		p4 = or(p4, cmp(nl+9, 1, pr))
		p6 = or(p6, cmp(nl+6, 1, pr))
	}
	v4 := and(and(p4, c.ipNotFrag()), dirs(false))
	v6 := and(p6, dirs(true))
	lt4, err := c.genLinktype(t, etherIP)
	if err != nil {
		return nil, err
	}
	lt6, err := c.genLinktype(t, etherIPv6)
	if err != nil {
		return nil, err
	}
	return or(and(lt6, v6), and(lt4, v4)), nil
}

// genNcode compiles a number or a dotted IPv4 address of bits bits.
func (c *compiler) genNcode(t token, v uint32, bits int, dotted bool, q quals) (*node, error) {
	switch q.addr {
	case qDefault, qHost, qNet:
		if q.proto == qLink {
			return nil, &Error{Pos: t.pos, Msg: "illegal link layer address"}
		}
		mask := uint32(0xffffffff)
		if !dotted && q.addr == qNet {
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
		} else if dotted {
			v <<= 32 - bits
			mask <<= 32 - bits
		}
		return c.genHost(t, v, mask, q)
	case qPort, qPortRange:
		if dotted {
			return nil, &Error{Pos: t.pos, Msg: "syntax error at " + t.String()}
		}
		if v > 65535 {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("illegal port number %d > 65535", v)}
		}
		return c.genPort(t, v, v, q)
	case qProto:
		if dotted {
			return nil, &Error{Pos: t.pos, Msg: "syntax error at " + t.String()}
		}
		return c.genProto(t, v, q.proto)
	}
	return nil, &Error{Pos: t.pos, Msg: "syntax error at " + t.String()}
}

// genMcode is "net A/len" and "net A mask M".
func (c *compiler) genMcode(t token, n, masklen uint32, m *uint32, q quals) (*node, error) {
	var mask uint32
	if m != nil {
		mask = *m
		if n&^mask != 0 {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("non-network bits set in \"%s mask\"", t.text)}
		}
	} else {
		if masklen > 32 {
			return nil, &Error{Pos: t.pos, Msg: "mask length must be <= 32"}
		}
		if masklen > 0 {
			mask = 0xffffffff << (32 - masklen)
		}
		if n&^mask != 0 {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("non-network bits set in \"%s/%d\"", t.text, masklen)}
		}
	}
	if q.addr != qNet {
		return nil, &Error{Pos: t.pos, Msg: "Mask syntax for networks only"}
	}
	return c.genHost(t, n, mask, q)
}

func (c *compiler) genMcode6(t token, bits uint32, q quals) (*node, error) {
	a, err := netip.ParseAddr(t.text)
	if err != nil {
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("invalid ip6 address %s", t.text)}
	}
	if bits > 128 {
		return nil, &Error{Pos: t.pos, Msg: "mask length must be <= 128"}
	}
	if netip.PrefixFrom(a, int(bits)).Masked().Addr() != a {
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("non-network bits set in \"%s/%d\"", t.text, bits)}
	}
	switch q.addr {
	case qDefault, qHost:
		if bits != 128 {
			return nil, &Error{Pos: t.pos, Msg: "Mask syntax for networks only"}
		}
	case qNet:
	default:
		return nil, &Error{Pos: t.pos, Msg: "invalid qualifier against IPv6 address"}
	}
	return c.genHost6(t, a, bits, q)
}

// genEcode is "ether host MAC" (libpcap's gen_ecode).
func (c *compiler) genEcode(t token, q quals) (*node, error) {
	if (q.addr != qHost && q.addr != qDefault) || q.proto != qLink {
		return nil, &Error{Pos: t.pos, Msg: "ethernet address used in non-ether expression"}
	}
	if c.link != LinkTypeEthernet {
		return nil, &Error{Pos: t.pos, Msg: "ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel"}
	}
	var mac [6]byte
	for i, p := range strings.Split(t.text, ":") {
		var v uint32
		for k := 0; k < len(p); k++ {
			v = v<<4 | hexVal(p[k])
		}
		mac[i] = byte(v)
	}
	return c.ehostop(mac, q.dir), nil
}

func hexVal(b byte) uint32 {
	switch {
	case b >= '0' && b <= '9':
		return uint32(b - '0')
	case b >= 'a' && b <= 'f':
		return uint32(b-'a') + 10
	}
	return uint32(b-'A') + 10
}

// ehostop compares an Ethernet address: the last four bytes first, as
// libpcap's gen_bcmp.
func (c *compiler) ehostop(mac [6]byte, dir int) *node {
	at := func(off uint32) *node {
		w := uint32(mac[2])<<24 | uint32(mac[3])<<16 | uint32(mac[4])<<8 | uint32(mac[5])
		h := uint32(mac[0])<<8 | uint32(mac[1])
		return and(cmp(off+2, 4, w), cmp(off, 2, h))
	}
	switch dir {
	case qSrc:
		return at(6)
	case qDst:
		return at(0)
	case qAnd:
		return and(at(6), at(0))
	}
	return or(at(6), at(0))
}

// genScode is a name where an address, port or protocol was expected: this
// package resolves no names, so it is an error like libpcap's when a name
// does not resolve.
func (c *compiler) genScode(t token, q quals) (*node, error) {
	switch q.addr {
	case qPort, qPortRange:
		if q.addr == qPortRange {
			if lo, hi, ok := portRange(t.text); ok {
				if lo > 65535 || hi > 65535 {
					bad := lo
					if lo <= 65535 {
						bad = hi
					}
					return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("illegal port number %d > 65535", bad)}
				}
				return c.genPort(t, lo, hi, q)
			}
		}
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("unknown port '%s' (numbers only: no name resolution)", t.text)}
	case qProto:
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("unknown protocol '%s' (numbers only: no name resolution)", t.text)}
	case qNet:
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("unknown network '%s' (numbers only: no name resolution)", t.text)}
	}
	if q.proto == qLink {
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("unknown ether host '%s' (numbers only: no name resolution)", t.text)}
	}
	return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("unknown host '%s' (numbers only: no name resolution)", t.text)}
}

func portRange(w string) (uint32, uint32, bool) {
	a, b, ok := strings.Cut(w, "-")
	if !ok {
		return 0, 0, false
	}
	lo, okA, errA := parseNum(a)
	hi, okB, errB := parseNum(b)
	if !okA || !okB || errA != nil || errB != nil {
		return 0, 0, false
	}
	return lo, hi, true
}

// genCast is "[ether|ip|ip6] broadcast|multicast".
func (c *compiler) genCast(t token, proto int) (*node, error) {
	bcast := t.text == "broadcast"
	switch proto {
	case qDefault, qLink:
		if c.link != LinkTypeEthernet {
			if bcast {
				return nil, &Error{Pos: t.pos, Msg: "not a broadcast link"}
			}
			return nil, &Error{Pos: t.pos, Msg: "link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel"}
		}
		if bcast {
			return c.ehostop([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, qDst), nil
		}
		return atom([]ins{load(1, 0)}, jmpJSET|srcK, 1), nil
	case qIP:
		lt, err := c.genLinktype(t, etherIP)
		if err != nil {
			return nil, err
		}
		dst := uint32(c.state.offNl + 16)
		if bcast {
			host := ^c.netmask
			return and(lt, or(mcmp(dst, 4, 0, host), mcmp(dst, 4, host, host))), nil
		}
		return and(lt, atom([]ins{load(1, dst)}, jmpJGE|srcK, 224)), nil
	case qIPv6:
		if bcast {
			break
		}
		lt, err := c.genLinktype(t, etherIPv6)
		if err != nil {
			return nil, err
		}
		return and(lt, cmp(uint32(c.state.offNl+24), 1, 255)), nil
	}
	if bcast {
		return nil, &Error{Pos: t.pos, Msg: "only link-layer/IP broadcast filters supported"}
	}
	return nil, &Error{Pos: t.pos, Msg: "only link-layer/IP/IPv6 multicast filters supported"}
}

// genEncap is vlan, mpls and pppoes: test the encapsulation, then move the
// offsets of every later primitive past it.
func (c *compiler) genEncap(t token, id *uint32) (*node, error) {
	s := &c.state
	switch t.text {
	case "vlan":
		if s.mplsDepth > 0 {
			return nil, &Error{Pos: t.pos, Msg: "no VLAN match after MPLS"}
		}
		if c.link != LinkTypeEthernet {
			return nil, &Error{Pos: t.pos, Msg: "no VLAN support for " + c.linkDescription()}
		}
		if id != nil && *id > 4095 {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("VLAN tag %d greater than maximum 4095", *id)}
		}
		if s.ppp {
			return nil, &Error{Pos: t.pos, Msg: "no VLAN support for PPP"}
		}
		tpid := or(or(cmp(uint32(s.offLinkType), 2, 0x8100), cmp(uint32(s.offLinkType), 2, 0x88a8)),
			cmp(uint32(s.offLinkType), 2, 0x9100))
		b := tpid
		if id != nil {
			b = and(b, mcmp(uint32(s.offNl), 2, *id, 0x0fff))
		}
		s.offLinkType += 4
		s.offNl += 4
		return b, nil
	case "mpls":
		if c.link != LinkTypeEthernet {
			return nil, &Error{Pos: t.pos, Msg: "no MPLS support for " + c.linkDescription()}
		}
		if id != nil && *id > 0xfffff {
			return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("MPLS label %d greater than maximum 1048575", *id)}
		}
		var b *node
		if s.mplsDepth > 0 {
			b = mcmp(uint32(s.offNl-2), 1, 0, 1)
		} else {
			if s.ppp {
				b = cmp(uint32(s.offLinkType), 2, 0x281)
			} else {
				b = cmp(uint32(s.offLinkType), 2, etherMPLS)
			}
		}
		if id != nil {
			b = and(b, mcmp(uint32(s.offNl), 4, *id<<12, 0xfffff000))
		}
		s.offNl += 4
		s.mplsDepth++
		return b, nil
	}
	// pppoes
	if c.link != LinkTypeEthernet || s.mplsDepth > 0 {
		return nil, &Error{Pos: t.pos, Msg: "pppoes is supported on Ethernet only"}
	}
	if id != nil && *id > 0xffff {
		return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("PPPoE session number %d greater than maximum 65535", *id)}
	}
	b, err := c.genLinktype(t, 0x8864)
	if err != nil {
		return nil, err
	}
	if id != nil {
		b = and(b, mcmp(uint32(s.offNl), 4, *id, 0xffff))
	}
	s.offLinkType = s.offNl + 6
	s.offNl += 8
	s.ppp = true
	return b, nil
}
