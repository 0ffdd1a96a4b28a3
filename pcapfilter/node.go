package pcapfilter

// Classic BPF opcodes, as in linux/filter.h: the compiler works on raw
// instructions so the optimiser and the printer see exactly what runs.
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	szW = 0x00
	szH = 0x08
	szB = 0x10

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	aluADD = 0x00
	aluSUB = 0x10
	aluMUL = 0x20
	aluDIV = 0x30
	aluOR  = 0x40
	aluAND = 0x50
	aluLSH = 0x60
	aluRSH = 0x70
	aluNEG = 0x80
	aluMOD = 0x90
	aluXOR = 0xa0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	srcK = 0x00
	srcX = 0x08

	miscTAX = 0x00
	miscTXA = 0x80
)

// ins is one instruction; for jumps jt and jf are indexes of instructions
// (labels while the program is being laid out), not relative offsets.
type ins struct {
	op     uint16
	k      uint32
	jt, jf int
}

func isJump(op uint16) bool { return op&0x07 == clsJMP }
func isCond(op uint16) bool { return isJump(op) && op&0xf0 != jmpJA }

type nodeOp int

const (
	nAtom nodeOp = iota
	nAnd
	nOr
	nNot
	nConst
)

// node is a boolean expression: atoms are straight-line code leaving a value
// in A, then one conditional jump; and/or evaluate left first and short-circuit,
// as libpcap's programs do (an out-of-range load ends the program with 0, so
// the order of loads is part of the meaning).
type node struct {
	op    nodeOp
	l, r  *node
	val   bool // nConst
	stmts []ins
	jop   uint16 // jmpJEQ... | srcK or srcX
	k     uint32
}

func atom(stmts []ins, jop uint16, k uint32) *node {
	return &node{op: nAtom, stmts: stmts, jop: jop, k: k}
}

func constNode(v bool) *node { return &node{op: nConst, val: v} }

func and(a, b *node) *node {
	switch {
	case a.op == nConst && !a.val:
		return a
	case a.op == nConst && a.val:
		return b
	case b.op == nConst && b.val:
		return a
	}
	// x and false: libpcap's optimiser drops x's loads too.
	if b.op == nConst && !b.val {
		return b
	}
	return &node{op: nAnd, l: a, r: b}
}

func or(a, b *node) *node {
	switch {
	case a.op == nConst && a.val:
		return a
	case a.op == nConst && !a.val:
		return b
	case b.op == nConst && !b.val:
		return a
	}
	if b.op == nConst && b.val {
		return b
	}
	return &node{op: nOr, l: a, r: b}
}

func not(a *node) *node {
	if a.op == nConst {
		return constNode(!a.val)
	}
	if a.op == nNot {
		return a.l
	}
	return &node{op: nNot, l: a}
}

// load returns the instruction loading size bytes at absolute offset off.
func load(size int, off uint32) ins {
	return ins{op: clsLD | sizeCode(size) | modeABS, k: off}
}

func sizeCode(size int) uint16 {
	switch size {
	case 1:
		return szB
	case 2:
		return szH
	}
	return szW
}

// cmp is the atom "size bytes at off, masked, equal to v"; a mask of all
// ones is left out, as libpcap's optimiser does.
func mcmp(off uint32, size int, v, mask uint32) *node {
	full := uint32(0xffffffff)
	if size == 1 {
		full = 0xff
	} else if size == 2 {
		full = 0xffff
	}
	st := []ins{load(size, off)}
	if mask&full != full {
		if mask&full == 0 {
			return constNode(v == 0)
		}
		st = append(st, ins{op: clsALU | aluAND | srcK, k: mask})
	}
	return atom(st, jmpJEQ|srcK, v&mask)
}

func cmp(off uint32, size int, v uint32) *node { return mcmp(off, size, v, 0xffffffff) }
