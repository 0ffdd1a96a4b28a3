// Package pcapfilter compiles pcap-filter(7) expressions — tcpdump's filter
// language — to classic BPF in pure Go, for the link types memif carries:
// Ethernet (DLT_EN10MB), raw IP (LINKTYPE_RAW, IPv4 or IPv6 by the version
// nibble) and LINKTYPE_USER0.
//
// The programs are tested against libpcap's: a differential test compiles
// every expression of testdata/exprs.txt with this package and with
// tcpdump -ddd, runs both over captured and generated frames and requires
// the same verdict for every frame. The instructions differ; the verdicts
// (accept or reject, and the length) do not.
//
// There is no name resolution: hosts, networks, ports and protocols are
// numbers or numeric addresses; a name is refused ("unknown host 'x'").
//
// The package imports only golang.org/x/net/bpf besides the standard library,
// never cgo or gopacket.
package pcapfilter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// LinkType is a pcap LINKTYPE_ value.
type LinkType uint32

// The link types Compile knows.
const (
	LinkTypeEthernet LinkType = 1   // DLT_EN10MB
	LinkTypeRaw      LinkType = 101 // LINKTYPE_RAW: the packet starts with an IPv4 or IPv6 header
	LinkTypeUser0    LinkType = 147 // LINKTYPE_USER0: only len, less, greater and link[...] apply
)

// Error is a compile error: Pos is the byte offset in the expression of the
// token it is about.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return "pcapfilter: " + e.Msg }

// Compile compiles expr for packets of the link type; accepted packets are
// cut to snaplen bytes (the program returns snaplen, as libpcap's does), so
// pass the capture's snap length (tcpdump's default is 262144). An empty
// expression accepts everything. As tcpdump reading a file does, "ip
// broadcast" uses a netmask of 0.
func Compile(expr string, link LinkType, snaplen int) ([]bpf.Instruction, error) {
	raw, err := CompileRaw(expr, link, snaplen)
	if err != nil {
		return nil, err
	}
	out := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		out[i] = r.Disassemble()
	}
	return out, nil
}

// CompileRaw is Compile returning the program as raw instructions, the form
// tcpdump -dd prints and SO_ATTACH_FILTER takes.
func CompileRaw(expr string, link LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	if snaplen <= 0 || snaplen > 0x7fffffff {
		return nil, fmt.Errorf("pcapfilter: snap length %d out of range", snaplen)
	}
	c := &compiler{link: link, snaplen: uint32(snaplen)}
	switch link {
	case LinkTypeEthernet:
		c.state = linkState{offLinkType: 12, offNl: 14}
	case LinkTypeRaw:
		c.state = linkState{offLinkType: -1, offNl: 0}
	case LinkTypeUser0:
		c.state = linkState{offLinkType: -1, offNl: -1}
	default:
		return nil, fmt.Errorf("pcapfilter: link type %d not supported", uint32(link))
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	var root *node
	if toks[0].kind == tEOF {
		root = constNode(true)
	} else {
		p := &parser{toks: toks, c: c}
		root, _, err = p.parseExpr(qerr)
		if err != nil {
			return nil, err
		}
		if t := p.peek(); t.kind != tEOF {
			return nil, p.syntaxError(t)
		}
	}
	prog := emit(factorOr(root), c.snaplen)
	prog = optimize(prog)
	if len(prog) == 1 && prog[0].k == 0 {
		return nil, &Error{Pos: 0, Msg: "expression rejects all packets"}
	}
	return assemble(prog)
}

// emit lays the boolean tree out as code: each atom's statements, then its
// jump to the labels of its true and false outcomes.
func emit(root *node, snaplen uint32) []ins {
	var code []ins
	labels := []int{-1, -1} // 0: accept, 1: reject
	newLabel := func() int { labels = append(labels, -1); return len(labels) - 1 }
	place := func(l int) { labels[l] = len(code) }
	var gen func(n *node, t, f int)
	gen = func(n *node, t, f int) {
		switch n.op {
		case nConst:
			l := f
			if n.val {
				l = t
			}
			code = append(code, ins{op: clsJMP | jmpJA, jt: l})
		case nAtom:
			code = append(code, n.stmts...)
			code = append(code, ins{op: clsJMP | n.jop, k: n.k, jt: t, jf: f})
		case nNot:
			gen(n.l, f, t)
		case nAnd:
			m := newLabel()
			gen(n.l, m, f)
			place(m)
			gen(n.r, t, f)
		case nOr:
			m := newLabel()
			gen(n.l, t, m)
			place(m)
			gen(n.r, t, f)
		}
	}
	gen(root, 0, 1)
	place(0)
	code = append(code, ins{op: clsRET | srcK, k: snaplen})
	place(1)
	code = append(code, ins{op: clsRET | srcK, k: 0})
	for i := range code {
		if isJump(code[i].op) {
			code[i].jt = labels[code[i].jt]
			if isCond(code[i].op) {
				code[i].jf = labels[code[i].jf]
			}
		}
	}
	return code
}

// longJumps gives every conditional jump that reaches farther than 255
// instructions (the most its 8-bit offset can say) an unconditional jump
// right after it to go the rest of the way, as libpcap does.
func longJumps(code []ins) []ins {
	for {
		far := -1
		for i, in := range code {
			if isCond(in.op) && (in.jt-i-1 > 255 || in.jf-i-1 > 255) {
				far = i
				break
			}
		}
		if far < 0 {
			return code
		}
		// An unconditional jump to the same place within reach will do.
		c := &code[far]
		shared := false
		for j := far + 1; j < len(code) && j-far-1 <= 255; j++ {
			if code[j].op != clsJMP|jmpJA {
				continue
			}
			if c.jt-far-1 > 255 && code[j].jt == c.jt {
				c.jt, shared = j, true
				break
			}
			if c.jf-far-1 > 255 && code[j].jt == c.jf {
				c.jf, shared = j, true
				break
			}
		}
		if shared {
			continue
		}
		// Put it as far down as the jump reaches, after an instruction that
		// does not fall through, so that the jumps below can share it; room
		// is made there: every target from there on moves down one.
		p := far + 1
		for j := min(far+256, len(code)-1); j > far+1; j-- {
			if prev := code[j-1].op; isJump(prev) || prev&0x07 == clsRET {
				p = j
				break
			}
		}
		for i := range code {
			if !isJump(code[i].op) {
				continue
			}
			if code[i].jt >= p {
				code[i].jt++
			}
			if isCond(code[i].op) && code[i].jf >= p {
				code[i].jf++
			}
		}
		c = &code[far]
		tramp := ins{op: clsJMP | jmpJA}
		if c.jt-far-1 > 255 {
			tramp.jt, c.jt = c.jt, p
		} else {
			tramp.jt, c.jf = c.jf, p
		}
		code = append(code[:p], append([]ins{tramp}, code[p:]...)...)
		// Both branches far: the next round gives the other one its own.
	}
}

// assemble turns absolute jump targets into offsets; a conditional jump
// reaches 255 instructions at most.
func assemble(code []ins) ([]bpf.RawInstruction, error) {
	code = longJumps(code)
	out := make([]bpf.RawInstruction, len(code))
	for i, in := range code {
		r := bpf.RawInstruction{Op: in.op, K: in.k}
		if isJump(in.op) {
			if !isCond(in.op) {
				r.K = uint32(in.jt - i - 1)
			} else {
				jt, jf := in.jt-i-1, in.jf-i-1
				if jt > 255 || jf > 255 || jt < 0 || jf < 0 {
					return nil, &Error{Msg: "expression too complex: a jump spans more than 255 instructions"}
				}
				r.Jt, r.Jf = uint8(jt), uint8(jf)
			}
		}
		out[i] = r
	}
	return out, nil
}
