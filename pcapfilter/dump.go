package pcapfilter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// DumpFormat selects one of tcpdump's program listings.
type DumpFormat int

const (
	DumpText    DumpFormat = 1 // tcpdump -d: one readable line per instruction
	DumpC       DumpFormat = 2 // tcpdump -dd: a C array initialiser
	DumpDecimal DumpFormat = 3 // tcpdump -ddd: the count, then "op jt jf k" in decimal
)

// Dump prints prog as tcpdump -d, -dd or -ddd does, byte for byte, ending in a
// newline.
func Dump(prog []bpf.RawInstruction, format DumpFormat) string {
	var b strings.Builder
	switch format {
	case DumpC:
		for _, r := range prog {
			fmt.Fprintf(&b, "{ 0x%x, %d, %d, 0x%08x },\n", r.Op, r.Jt, r.Jf, r.K)
		}
	case DumpDecimal:
		fmt.Fprintf(&b, "%d\n", len(prog))
		for _, r := range prog {
			fmt.Fprintf(&b, "%d %d %d %d\n", r.Op, r.Jt, r.Jf, r.K)
		}
	default:
		for i, r := range prog {
			b.WriteString(image(r, i))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// image is one line of tcpdump -d (libpcap's bpf_image layout).
func image(r bpf.RawInstruction, n int) string {
	k := r.K
	op, operand := "unimp", fmt.Sprintf("0x%x", r.Op)
	sz := map[uint16]string{szW: "ld", szH: "ldh", szB: "ldb"}
	switch r.Op & 0x07 {
	case clsRET:
		op = "ret"
		switch r.Op & 0x18 {
		case 0x00:
			operand = fmt.Sprintf("#%d", k)
		case 0x10:
			operand = ""
		}
		if r.Op&0x18 == 0x10 {
			operand = "a"
		}
	case clsLD:
		name, ok := sz[r.Op&0x18]
		if !ok {
			break
		}
		switch r.Op & 0xe0 {
		case modeABS:
			op, operand = name, fmt.Sprintf("[%d]", k)
		case modeIND:
			op, operand = name, fmt.Sprintf("[x + %d]", k)
		case modeIMM:
			if r.Op&0x18 == szW {
				op, operand = "ld", fmt.Sprintf("#0x%x", k)
			}
		case modeLEN:
			if r.Op&0x18 == szW {
				op, operand = "ld", "#pktlen"
			}
		case modeMEM:
			if r.Op&0x18 == szW {
				op, operand = "ld", fmt.Sprintf("M[%d]", k)
			}
		}
	case clsLDX:
		switch r.Op & 0xf8 {
		case modeIMM | szW:
			op, operand = "ldx", fmt.Sprintf("#0x%x", k)
		case modeLEN | szW:
			op, operand = "ldx", "#pktlen"
		case modeMEM | szW:
			op, operand = "ldx", fmt.Sprintf("M[%d]", k)
		case modeMSH | szB:
			op, operand = "ldxb", fmt.Sprintf("4*([%d]&0xf)", k)
		}
	case clsST:
		op, operand = "st", fmt.Sprintf("M[%d]", k)
	case 0x03:
		op, operand = "stx", fmt.Sprintf("M[%d]", k)
	case clsJMP:
		names := map[uint16]string{jmpJA: "ja", jmpJEQ: "jeq", jmpJGT: "jgt", jmpJGE: "jge", jmpJSET: "jset"}
		name, ok := names[r.Op&0xf0]
		if !ok {
			break
		}
		if r.Op&0xf0 == jmpJA {
			return fmt.Sprintf("(%03d) %-8s %d", n, "ja", uint32(n)+1+k)
		}
		operand = fmt.Sprintf("#0x%x", k)
		if r.Op&srcX != 0 {
			operand = "x"
		}
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, name, operand, n+1+int(r.Jt), n+1+int(r.Jf))
	case clsALU:
		names := map[uint16]string{aluADD: "add", aluSUB: "sub", aluMUL: "mul", aluDIV: "div",
			aluMOD: "mod", aluAND: "and", aluOR: "or", aluXOR: "xor", aluLSH: "lsh", aluRSH: "rsh", aluNEG: "neg"}
		name, ok := names[r.Op&0xf0]
		if !ok {
			break
		}
		op = name
		switch {
		case r.Op&0xf0 == aluNEG:
			operand = ""
		case r.Op&srcX != 0:
			operand = "x"
		case r.Op&0xf0 == aluAND || r.Op&0xf0 == aluOR || r.Op&0xf0 == aluXOR:
			operand = fmt.Sprintf("#0x%x", k)
		default:
			operand = fmt.Sprintf("#%d", k)
		}
	case clsMISC:
		switch r.Op & 0xf8 {
		case miscTAX:
			op, operand = "tax", ""
		case miscTXA:
			op, operand = "txa", ""
		}
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
}
