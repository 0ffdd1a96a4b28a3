package pcapfilter

import "fmt"

// arth is an arithmetic value: code leaving it in A (or a constant), and the
// protocol checks its packet accesses need (ANDed before the relation).
type arth struct {
	stmts   []ins
	isConst bool
	k       uint32
	checks  *node
}

var binLevels = [][]string{{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"}}

var aluOf = map[string]uint16{
	"|": aluOR, "^": aluXOR, "&": aluAND, "<<": aluLSH, ">>": aluRSH,
	"+": aluADD, "-": aluSUB, "*": aluMUL, "/": aluDIV, "%": aluMOD,
}

func (p *parser) parseRelation() (*node, quals, error) {
	a, err := p.parseArth(0)
	if err != nil {
		return nil, qerr, err
	}
	t := p.next()
	var jop uint16
	neg := false
	switch {
	case isOp(t, ">"):
		jop = jmpJGT
	case isOp(t, ">="):
		jop = jmpJGE
	case isOp(t, "="):
		jop = jmpJEQ
	case isOp(t, "<"):
		jop, neg = jmpJGE, true
	case isOp(t, "<="):
		jop, neg = jmpJGT, true
	case isOp(t, "!="):
		jop, neg = jmpJEQ, true
	default:
		return nil, qerr, p.syntaxError(t)
	}
	b, err := p.parseArth(0)
	if err != nil {
		return nil, qerr, err
	}
	r, err := p.c.relation(t, jop, neg, a, b)
	if err != nil {
		return nil, qerr, err
	}
	return r, qerr, nil
}

func (p *parser) parseArth(level int) (*arth, error) {
	if level == len(binLevels) {
		return p.parseUnary()
	}
	a, err := p.parseArth(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		found := false
		for _, o := range binLevels[level] {
			if isOp(t, o) {
				found = true
			}
		}
		if !found {
			return a, nil
		}
		p.next()
		b, err := p.parseArth(level + 1)
		if err != nil {
			return nil, err
		}
		if a, err = p.c.binop(t, aluOf[t.text], a, b); err != nil {
			return nil, err
		}
	}
}

func (p *parser) parseUnary() (*arth, error) {
	t := p.next()
	switch {
	case isOp(t, "-"):
		a, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if a.isConst {
			return &arth{isConst: true, k: -a.k}, nil
		}
		// -A as A * 0xffffffff: golang.org/x/net/bpf's VM does not run BPF_NEG.
		st := append(cloneIns(a.stmts), ins{op: clsALU | aluMUL | srcK, k: 0xffffffff})
		return &arth{stmts: st, checks: a.checks}, nil
	case isOp(t, "("):
		a, err := p.parseArth(0)
		if err != nil {
			return nil, err
		}
		if n := p.next(); !isOp(n, ")") {
			return nil, p.syntaxError(n)
		}
		return a, nil
	case t.kind == tNum:
		return &arth{isConst: true, k: t.num}, nil
	case t.kind == tID:
		if v, ok := namedConst[t.text]; ok {
			return &arth{isConst: true, k: v}, nil
		}
		if t.text == "len" {
			return &arth{stmts: []ins{{op: clsLD | szW | modeLEN}}}, nil
		}
		if pr, ok := protoNames[t.text]; ok && isOp(p.peek(), "[") {
			p.next()
			idx, err := p.parseArth(0)
			if err != nil {
				return nil, err
			}
			size := uint32(1)
			if isOp(p.peek(), ":") {
				p.next()
				n := p.next()
				if n.kind != tNum {
					return nil, p.syntaxError(n)
				}
				size = n.num
				if size != 1 && size != 2 && size != 4 {
					return nil, &Error{Pos: n.pos, Msg: "data size must be 1, 2, or 4"}
				}
			}
			if n := p.next(); !isOp(n, "]") {
				return nil, p.syntaxError(n)
			}
			return p.c.access(t, pr, idx, int(size))
		}
	}
	return nil, p.syntaxError(t)
}

func cloneIns(s []ins) []ins { return append([]ins(nil), s...) }

func andChecks(a, b *node) *node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return and(a, b)
}

func (c *compiler) scratch(t token) (uint32, error) {
	if c.nscratch >= 16 {
		return 0, &Error{Pos: t.pos, Msg: "too many registers needed to evaluate expression"}
	}
	c.nscratch++
	return uint32(c.nscratch - 1), nil
}

// binop combines two values, folding constants as libpcap's optimiser does.
func (c *compiler) binop(t token, op uint16, a, b *arth) (*arth, error) {
	if b.isConst {
		if (op == aluDIV || op == aluMOD) && b.k == 0 {
			return nil, &Error{Pos: t.pos, Msg: "division by zero"}
		}
		if (op == aluLSH || op == aluRSH) && b.k > 31 {
			return nil, &Error{Pos: t.pos, Msg: "shift by more than 31 bits"}
		}
	}
	if a.isConst && b.isConst {
		return &arth{isConst: true, k: fold(op, a.k, b.k)}, nil
	}
	// libpcap keeps only the left operand's checks in arithmetic ("len -
	// tcp[0] = 1" tests no protocol at all); so does this package, so that
	// both accept the same packets. A relation keeps both sides' checks.
	r := &arth{checks: a.checks}
	if b.isConst {
		r.stmts = append(c.valueStmts(a), ins{op: clsALU | op | srcK, k: b.k})
		return r, nil
	}
	m, err := c.scratch(t)
	if err != nil {
		return nil, err
	}
	st := append(c.valueStmts(a), ins{op: clsST, k: m})
	st = append(st, c.valueStmts(b)...)
	st = append(st, ins{op: clsMISC | miscTAX}, ins{op: clsLD | modeMEM, k: m}, ins{op: clsALU | op | srcX})
	r.stmts = st
	return r, nil
}

func (c *compiler) valueStmts(a *arth) []ins {
	if a.isConst {
		return []ins{{op: clsLD | modeIMM, k: a.k}}
	}
	return cloneIns(a.stmts)
}

func fold(op uint16, a, b uint32) uint32 {
	switch op {
	case aluADD:
		return a + b
	case aluSUB:
		return a - b
	case aluMUL:
		return a * b
	case aluDIV:
		return a / b
	case aluMOD:
		return a % b
	case aluAND:
		return a & b
	case aluOR:
		return a | b
	case aluXOR:
		return a ^ b
	case aluLSH:
		return a << b
	case aluRSH:
		return a >> b
	}
	panic(fmt.Sprintf("pcapfilter: fold of ALU op %#x", op))
}

// relation compiles "a op b": the checks of both sides first, then the
// comparison.
// neg negates the comparison only, not the protocol checks, as libpcap's.
func (c *compiler) relation(t token, jop uint16, neg bool, a, b *arth) (*node, error) {
	checks := andChecks(a.checks, b.checks)
	var r *node
	switch {
	case a.isConst && b.isConst:
		r = constNode(jumpTaken(jop, a.k, b.k))
	case b.isConst:
		st := c.valueStmts(a)
		if last := len(st) - 1; jop == jmpJEQ && b.k == 0 && last > 0 && st[last].op == clsALU|aluAND|srcK {
			// "x & m = 0" is "not jset m", one instruction shorter, as libpcap's.
			r = not(atom(st[:last], jmpJSET|srcK, st[last].k))
			break
		}
		r = atom(st, jop|srcK, b.k)
	default:
		m, err := c.scratch(t)
		if err != nil {
			return nil, err
		}
		st := append(c.valueStmts(b), ins{op: clsST, k: m})
		st = append(st, c.valueStmts(a)...)
		st = append(st, ins{op: clsLDX | modeMEM, k: m})
		r = atom(st, jop|srcX, 0)
	}
	if neg {
		r = not(r)
	}
	if checks == nil {
		return r, nil
	}
	return and(checks, r), nil
}

func jumpTaken(jop uint16, a, k uint32) bool {
	switch jop & 0xf0 {
	case jmpJEQ:
		return a == k
	case jmpJGT:
		return a > k
	case jmpJGE:
		return a >= k
	case jmpJSET:
		return a&k != 0
	}
	return true
}

// access compiles proto[idx:size]: the offset is relative to the link header
// (link/ether), the network header (ip, ip6, arp, rarp) or the transport
// header of an unfragmented IPv4 packet (tcp, udp, icmp...), as libpcap's.
func (c *compiler) access(t token, proto int, idx *arth, size int) (*arth, error) {
	r := &arth{checks: idx.checks}
	sz := sizeCode(size)
	switch proto {
	case qLink:
		// On raw IP the link header is empty: link[N] reads the IP header.
		r.stmts = c.indexed(idx, 0, sz)
		return r, nil
	case qIP, qARP, qRARP, qIPv6:
		chk, err := c.genProtoAbbrev(t, proto)
		if err != nil {
			return nil, err
		}
		r.checks = andChecks(chk, r.checks)
		r.stmts = c.indexed(idx, uint32(c.state.offNl), sz)
		return r, nil
	case qICMPv6:
		chk, err := c.genProtoAbbrev(t, qIPv6)
		if err != nil {
			return nil, err
		}
		chk = and(chk, cmp(uint32(c.state.offNl+6), 1, 58))
		r.checks = andChecks(chk, r.checks)
		r.stmts = c.indexed(idx, uint32(c.state.offNl+40), sz)
		return r, nil
	case qTCP, qUDP, qICMP, qIGMP, qIGRP, qPIM, qVRRP, qCARP, qSCTP:
		ip, err := c.genLinktype(t, 0x800)
		if err != nil {
			return nil, err
		}
		chk := and(ip, cmp(uint32(c.state.offNl+9), 1, protoNumber[proto]))
		chk = and(chk, c.ipNotFrag())
		r.checks = andChecks(chk, r.checks)
		nl := uint32(c.state.offNl)
		msh := ins{op: clsLDX | szB | modeMSH, k: nl}
		if idx.isConst {
			r.stmts = []ins{msh, {op: clsLD | sz | modeIND, k: nl + idx.k}}
		} else {
			r.stmts = append(cloneIns(idx.stmts), msh, ins{op: clsALU | aluADD | srcX},
				ins{op: clsMISC | miscTAX}, ins{op: clsLD | sz | modeIND, k: nl})
		}
		return r, nil
	}
	return nil, &Error{Pos: t.pos, Msg: fmt.Sprintf("'%s' does not support the index operation", t.text)}
}

func (c *compiler) indexed(idx *arth, base uint32, sz uint16) []ins {
	if idx.isConst {
		return []ins{{op: clsLD | sz | modeABS, k: base + idx.k}}
	}
	return append(cloneIns(idx.stmts), ins{op: clsMISC | miscTAX}, ins{op: clsLD | sz | modeIND, k: base})
}
