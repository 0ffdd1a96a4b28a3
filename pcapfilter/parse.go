package pcapfilter

import (
	"fmt"
	"strings"
)

// Qualifier values, after pcap-filter(7): a primitive is "proto dir type id".
const (
	qDefault = iota
	qUndef   // after a primitive that gives no qualifiers to a bare id

	// protocols
	qLink
	qIP
	qARP
	qRARP
	qTCP
	qUDP
	qICMP
	qIGMP
	qIGRP
	qPIM
	qVRRP
	qCARP
	qSCTP
	qIPv6
	qICMPv6
	qAH
	qESP

	// directions
	qSrc
	qDst
	qOr
	qAnd

	// types
	qHost
	qNet
	qPort
	qPortRange
	qGateway
	qProto
	qProtoChain
)

type quals struct{ proto, dir, addr int }

var qerr = quals{qUndef, qUndef, qUndef}

var protoNames = map[string]int{
	"link": qLink, "ether": qLink, "ip": qIP, "arp": qARP, "rarp": qRARP,
	"tcp": qTCP, "udp": qUDP, "icmp": qICMP, "igmp": qIGMP, "igrp": qIGRP,
	"pim": qPIM, "vrrp": qVRRP, "carp": qCARP, "sctp": qSCTP, "ip6": qIPv6,
	"icmp6": qICMPv6, "ah": qAH, "esp": qESP,
}

var qualName = map[int]string{
	qLink: "link", qIP: "ip", qARP: "arp", qRARP: "rarp", qTCP: "tcp", qUDP: "udp",
	qICMP: "icmp", qIGMP: "igmp", qIGRP: "igrp", qPIM: "pim", qVRRP: "vrrp", qCARP: "carp",
	qSCTP: "sctp", qIPv6: "ip6", qICMPv6: "icmp6", qAH: "ah", qESP: "esp",
	qHost: "host", qNet: "net", qPort: "port", qPortRange: "portrange", qGateway: "gateway",
	qProto: "proto", qProtoChain: "protochain",
}

// Named constants of pcap-filter(7).
var namedConst = map[string]uint32{
	"icmptype": 0, "icmpcode": 1,
	"icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
	"icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
	"icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
	"icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1,
	"icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
	"icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
	"icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133, "icmp6-routeradvert": 134,
	"icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136, "icmp6-redirect": 137,
	"icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
	"icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
	"icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
	"icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
	"icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
	"icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
	"icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
	"icmp6-multicastrouterterm": 153,
	"tcpflags":                  13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}

// keywords that are not protocol names, directions or types.
var otherKeywords = map[string]bool{
	"and": true, "or": true, "not": true, "src": true, "dst": true, "host": true,
	"net": true, "mask": true, "port": true, "portrange": true, "gateway": true,
	"proto": true, "protochain": true, "less": true, "greater": true, "len": true,
	"broadcast": true, "multicast": true, "vlan": true, "mpls": true, "pppoed": true,
	"pppoes": true, "geneve": true, "vxlan": true, "inbound": true, "outbound": true,
	"byte": true,
}

// Keywords libpcap knows that this package does not compile: they are
// refused by name rather than taken for host names.
var unsupportedKeywords = map[string]string{
	"protochain": "libpcap's protochain program jumps backwards, which classic BPF cannot run",
	"geneve":     "not implemented",
	"vxlan":      "not implemented",
	"gateway":    "it needs name resolution",
	"inbound":    "no direction on this link type",
	"outbound":   "no direction on this link type",
	"decnet":     "not implemented", "atalk": "not implemented", "aarp": "not implemented",
	"lat": "not implemented", "sca": "not implemented", "moprc": "not implemented",
	"mopdl": "not implemented", "iso": "not implemented", "esis": "not implemented",
	"es-is": "not implemented", "isis": "not implemented", "is-is": "not implemented",
	"l1": "not implemented", "l2": "not implemented", "iih": "not implemented",
	"lsp": "not implemented", "snp": "not implemented", "csnp": "not implemented",
	"psnp": "not implemented", "clnp": "not implemented", "stp": "not implemented",
	"ipx": "not implemented", "netbeui": "not implemented", "radio": "not implemented",
	"fddi": "not implemented", "tr": "not implemented", "wlan": "not implemented",
	"type": "not implemented", "subtype": "not implemented", "dir": "not implemented",
	"ra": "not implemented", "ta": "not implemented", "addr1": "not implemented",
	"addr2": "not implemented", "addr3": "not implemented", "addr4": "not implemented",
	"address1": "not implemented", "address2": "not implemented",
	"address3": "not implemented", "address4": "not implemented",
	"ifname": "not implemented", "on": "not implemented", "rnr": "not implemented",
	"rulenum": "not implemented", "reason": "not implemented", "rset": "not implemented",
	"ruleset": "not implemented", "srnr": "not implemented", "subrulenum": "not implemented",
	"action": "not implemented", "metac": "not implemented", "bcc": "not implemented",
	"oam": "not implemented", "oamf4": "not implemented", "oamf4ec": "not implemented",
	"oamf4sc": "not implemented", "sc": "not implemented", "ilmic": "not implemented",
	"vpi": "not implemented", "vci": "not implemented", "connectmsg": "not implemented",
	"metaconnect": "not implemented", "lane": "not implemented", "llc": "not implemented",
	"fisu": "not implemented", "lssu": "not implemented", "msu": "not implemented",
	"hfisu": "not implemented", "hlssu": "not implemented", "hmsu": "not implemented",
	"sio": "not implemented", "opc": "not implemented", "dpc": "not implemented",
	"sls": "not implemented", "hsio": "not implemented", "hopc": "not implemented",
	"hdpc": "not implemented", "hsls": "not implemented", "slip": "not implemented",
	"ppp": "not implemented",
}

type parser struct {
	toks []token
	i    int
	c    *compiler
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) syntaxError(t token) error {
	return &Error{Pos: t.pos, Msg: "syntax error at " + t.String()}
}

func isKW(t token, w string) bool { return t.kind == tID && t.text == w }
func isOp(t token, o string) bool { return t.kind == tOp && t.text == o }
func isAndTok(t token) bool       { return isKW(t, "and") || isOp(t, "&&") }
func isOrTok(t token) bool        { return isKW(t, "or") || isOp(t, "||") }
func isNotTok(t token) bool       { return isKW(t, "not") || isOp(t, "!") }

func isKeyword(w string) bool {
	_, p := protoNames[w]
	_, u := unsupportedKeywords[w]
	_, c := namedConst[w]
	return p || u || c || otherKeywords[w]
}

// isValue reports whether t can be the id of a primitive ("1.2.3.4", "53").
func isValue(t token) bool {
	switch t.kind {
	case tNum, tHID, tHID6, tEID:
		return true
	case tID:
		return !isKeyword(t.text)
	}
	return false
}

// parseExpr: and/or have equal precedence and group to the left, as in
// libpcap; a bare id after and/or takes the qualifiers of the primitive before.
func (p *parser) parseExpr(inherit quals) (*node, quals, error) {
	b, q, err := p.parseTerm(inherit)
	if err != nil {
		return nil, q, err
	}
	for {
		t := p.peek()
		isAnd, isOr := isAndTok(t), isOrTok(t)
		if !isAnd && !isOr {
			return b, q, nil
		}
		p.next()
		r, rq, err := p.parseTerm(q)
		if err != nil {
			return nil, rq, err
		}
		if isAnd {
			b = and(b, r)
		} else {
			b = or(b, r)
		}
		q = rq
	}
}

// parseTerm parses [not]... rterm, or a bare id with the inherited qualifiers.
func (p *parser) parseTerm(inherit quals) (*node, quals, error) {
	t := p.peek()
	if isNotTok(t) {
		p.next()
		b, q, err := p.parseTerm(inherit)
		if err != nil {
			return nil, q, err
		}
		return not(b), q, nil
	}
	if isValue(t) && !p.startsArith() {
		p.next()
		b, err := p.genID(t, inherit)
		return b, inherit, err
	}
	if isOp(t, "(") && p.parenIsID() {
		p.next()
		b, q, err := p.parseExpr(inherit)
		if err != nil {
			return nil, q, err
		}
		if !isOp(p.peek(), ")") {
			return nil, q, p.syntaxError(p.peek())
		}
		p.next()
		return b, inherit, nil
	}
	return p.parseRterm(inherit)
}

// startsArith reports whether a number at the cursor begins an arithmetic
// relation ("5 > len") rather than an id ("port 53 or 80").
func (p *parser) startsArith() bool {
	if p.peek().kind != tNum {
		return false
	}
	n := p.peekAt(1)
	return n.kind == tOp && strings.Contains("+ - * / % & | ^ << >> > < >= <= = !=", n.text) && n.text != "!"
}

// parenIsID reports whether "(" opens an id list ("host (1.2.3.4 or 5.6.7.8)")
// rather than an expression or an arithmetic group: its first token is a
// value that does not start arithmetic.
func (p *parser) parenIsID() bool {
	j := p.i + 1
	for isOp(p.toks[j], "(") || isNotTok(p.toks[j]) {
		j++
	}
	t := p.toks[j]
	if !isValue(t) {
		return false
	}
	if t.kind != tNum {
		return true
	}
	n := p.toks[j+1]
	return !(n.kind == tOp && !isOp(n, ")") && !isOp(n, "!") && !isOp(n, "(") && !isOp(n, "&&") && !isOp(n, "||"))
}

func (p *parser) parseRterm(inherit quals) (*node, quals, error) {
	t := p.peek()
	if isOp(t, "(") {
		// ( expr ) or an arithmetic group: try the expression first.
		save := p.i
		saveState := p.c.state
		p.next()
		b, _, err := p.parseExpr(inherit)
		if err == nil && isOp(p.peek(), ")") {
			p.next()
			n := p.peek()
			if !(n.kind == tOp && !isOp(n, ")") && !isOp(n, "(") && !isOp(n, "!") && !isOp(n, "&&") && !isOp(n, "||")) {
				return b, inherit, nil
			}
		}
		p.i = save
		p.c.state = saveState
		return p.parseRelation()
	}
	if t.kind == tID {
		if why, ok := unsupportedKeywords[t.text]; ok {
			return nil, qerr, &Error{Pos: t.pos, Msg: fmt.Sprintf("'%s' is not supported: %s", t.text, why)}
		}
		switch t.text {
		case "less", "greater":
			p.next()
			n := p.next()
			if n.kind != tNum {
				return nil, qerr, p.syntaxError(n)
			}
			ld := []ins{{op: clsLD | szW | modeLEN}}
			if t.text == "less" {
				return not(atom(ld, jmpJGT|srcK, n.num)), qerr, nil
			}
			return atom(ld, jmpJGE|srcK, n.num), qerr, nil
		case "vlan", "mpls", "pppoes":
			p.next()
			var id *uint32
			if n := p.peek(); n.kind == tNum {
				p.next()
				id = &n.num
			}
			b, err := p.c.genEncap(t, id)
			return b, qerr, err
		case "pppoed":
			p.next()
			b, err := p.c.genLinktype(t, 0x8863)
			return b, qerr, err
		case "broadcast", "multicast":
			p.next()
			b, err := p.c.genCast(t, qDefault)
			return b, qerr, err
		}
	}
	// head: [proto] [dir] [type], or proto alone, or proto[...] arithmetic.
	q := quals{qDefault, qDefault, qDefault}
	have := false
	if t.kind == tID {
		if pr, ok := protoNames[t.text]; ok {
			if isOp(p.peekAt(1), "[") {
				return p.parseRelation()
			}
			p.next()
			q.proto, have = pr, true
			n := p.peek()
			if isKW(n, "broadcast") || isKW(n, "multicast") {
				p.next()
				b, err := p.c.genCast(n, pr)
				return b, qerr, err
			}
			if !p.startsQual(n) {
				b, err := p.c.genProtoAbbrev(t, pr)
				return b, qerr, err
			}
		}
		if t.text == "len" {
			return p.parseRelation()
		}
	}
	if d, ok := p.parseDir(); ok {
		q.dir, have = d, true
	}
	if n := p.peek(); n.kind == tID {
		switch n.text {
		case "host":
			q.addr = qHost
		case "net":
			q.addr = qNet
		case "port":
			q.addr = qPort
		case "portrange":
			q.addr = qPortRange
		case "gateway", "protochain":
			return nil, qerr, &Error{Pos: n.pos, Msg: fmt.Sprintf("'%s' is not supported: %s", n.text, unsupportedKeywords[n.text])}
		case "proto":
			if q.dir != qDefault {
				return nil, qerr, p.syntaxError(n)
			}
			q.addr = qProto
		}
		if q.addr != qDefault {
			p.next()
			have = true
		}
	}
	if !have {
		if t.kind == tNum || isOp(t, "-") {
			return p.parseRelation()
		}
		return nil, qerr, p.syntaxError(t)
	}
	// head id
	b, err := p.parseID(q)
	return b, q, err
}

func (p *parser) startsQual(t token) bool {
	if t.kind != tID {
		return false
	}
	switch t.text {
	case "src", "dst", "host", "net", "port", "portrange", "gateway", "proto", "protochain":
		return true
	}
	return false
}

func (p *parser) parseDir() (int, bool) {
	t := p.peek()
	var d int
	switch {
	case isKW(t, "src"):
		d = qSrc
	case isKW(t, "dst"):
		d = qDst
	default:
		return 0, false
	}
	p.next()
	n, m := p.peek(), p.peekAt(1)
	other := "dst"
	if d == qDst {
		other = "src"
	}
	if (isAndTok(n) || isOrTok(n)) && isKW(m, other) {
		p.next()
		p.next()
		if isAndTok(n) {
			return qAnd, true
		}
		return qOr, true
	}
	return d, true
}

// parseID parses the id after a head: a value, "not id", or a parenthesised
// list of ids joined by and/or that all take the head's qualifiers.
func (p *parser) parseID(q quals) (*node, error) {
	t := p.peek()
	if isNotTok(t) {
		p.next()
		b, err := p.parseID(q)
		if err != nil {
			return nil, err
		}
		return not(b), nil
	}
	if isOp(t, "(") {
		p.next()
		b, err := p.parseID(q)
		if err != nil {
			return nil, err
		}
		for {
			n := p.peek()
			if isOp(n, ")") {
				p.next()
				return b, nil
			}
			if !isAndTok(n) && !isOrTok(n) {
				return nil, p.syntaxError(n)
			}
			p.next()
			r, err := p.parseID(q)
			if err != nil {
				return nil, err
			}
			if isAndTok(n) {
				b = and(b, r)
			} else {
				b = or(b, r)
			}
		}
	}
	if !isValue(t) {
		return nil, p.syntaxError(t)
	}
	p.next()
	return p.genID(t, q)
}

// genID compiles one id with its qualifiers (libpcap's gen_ncode, gen_scode,
// gen_mcode, gen_mcode6, gen_ecode).
func (p *parser) genID(t token, q quals) (*node, error) {
	if q == qerr {
		return nil, &Error{Pos: t.pos, Msg: "syntax error in filter expression: " + t.String() + " has no qualifier to inherit"}
	}
	c := p.c
	switch t.kind {
	case tNum:
		return c.genNcode(t, t.num, 32, false, q)
	case tHID:
		// "10.1.2.0/24", "10.0.0.0 mask 255.0.0.0" or a plain (partial) address.
		v, bits, err := parseHID(t.text)
		if err != nil {
			return nil, &Error{Pos: t.pos, Msg: err.Error()}
		}
		if isOp(p.peek(), "/") {
			p.next()
			n := p.next()
			if n.kind != tNum {
				return nil, p.syntaxError(n)
			}
			return c.genMcode(t, v<<(32-bits), n.num, nil, q)
		}
		if isKW(p.peek(), "mask") {
			p.next()
			n := p.next()
			if n.kind != tHID {
				return nil, p.syntaxError(n)
			}
			m, mbits, err := parseHID(n.text)
			if err != nil {
				return nil, &Error{Pos: n.pos, Msg: err.Error()}
			}
			m <<= 32 - mbits
			return c.genMcode(t, v<<(32-bits), 0, &m, q)
		}
		return c.genNcode(t, v, bits, true, q)
	case tHID6:
		bits := uint32(128)
		if isOp(p.peek(), "/") {
			p.next()
			n := p.next()
			if n.kind != tNum {
				return nil, p.syntaxError(n)
			}
			bits = n.num
		}
		return c.genMcode6(t, bits, q)
	case tEID:
		return c.genEcode(t, q)
	}
	return c.genScode(t, q)
}
