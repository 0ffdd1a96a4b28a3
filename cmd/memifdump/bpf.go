package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// maxInstructions is the kernel's BPF_MAXINSNS, the longest classic program
// libpcap and tcpdump produce.
const maxInstructions = 4096

// parseBPF reads a classic BPF program in `tcpdump -ddd` form: a line with
// the instruction count, then one line per instruction with four decimal
// numbers "code jt jf k". Nothing else is accepted (a trailing newline is),
// and every error names its line, counted from 1.
//
// The program is also checked the way x/net/bpf's VM will check it, so that
// a bad jump or an unsupported Linux extension is reported here, with its
// line, rather than later as an index.
func parseBPF(text string) ([]bpf.RawInstruction, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) == 1 && strings.TrimSpace(lines[0]) == "" {
		return nil, errors.New("empty: want tcpdump -ddd output (a count line, then \"code jt jf k\" lines)")
	}
	count, err := strconv.ParseUint(strings.TrimSpace(lines[0]), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("line 1: want the instruction count, got %q", lines[0])
	}
	if count == 0 || count > maxInstructions {
		return nil, fmt.Errorf("line 1: instruction count %d is not between 1 and %d", count, maxInstructions)
	}
	if got := len(lines) - 1; got != int(count) {
		return nil, fmt.Errorf("line 1: says %d instructions, but %d lines follow", count, got)
	}
	prog := make([]bpf.RawInstruction, count)
	for i := range prog {
		ln := i + 2
		f := strings.Fields(lines[i+1])
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want four decimal numbers \"code jt jf k\", got %q", ln, lines[i+1])
		}
		var v [4]uint64
		for j, bits := range [4]int{16, 8, 8, 32} {
			n, err := strconv.ParseUint(f[j], 10, bits)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s %q is not a decimal number from 0 to %d", ln, [4]string{"code", "jt", "jf", "k"}[j], f[j], uint64(1)<<bits-1)
			}
			v[j] = n
		}
		prog[i] = bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}
	}
	if err := checkBPF(prog); err != nil {
		return nil, err
	}
	return prog, nil
}

// checkBPF applies x/net/bpf's NewVM checks one instruction at a time, so
// that a failure names its line (instruction i is on line i+2).
func checkBPF(prog []bpf.RawInstruction) error {
	insns := make([]bpf.Instruction, len(prog))
	for i, raw := range prog {
		ln := i + 2
		ins := raw.Disassemble()
		left := len(prog) - i - 1 // instructions after this one
		switch ins := ins.(type) {
		case bpf.RawInstruction:
			return fmt.Errorf("line %d: %d %d %d %d is not a classic BPF instruction", ln, raw.Op, raw.Jt, raw.Jf, raw.K)
		case bpf.LoadExtension:
			if ins.Num != bpf.ExtLen {
				return fmt.Errorf("line %d: Linux BPF extension %d (such as vlan_avail or ifindex) cannot run outside the kernel", ln, ins.Num)
			}
		case bpf.Jump:
			if int(ins.Skip) >= left {
				return fmt.Errorf("line %d: jump of %d goes past the end of the program", ln, ins.Skip)
			}
		case bpf.JumpIf:
			if int(max(ins.SkipTrue, ins.SkipFalse)) >= left {
				return fmt.Errorf("line %d: jump of %d goes past the end of the program", ln, max(ins.SkipTrue, ins.SkipFalse))
			}
		case bpf.JumpIfX:
			if int(max(ins.SkipTrue, ins.SkipFalse)) >= left {
				return fmt.Errorf("line %d: jump of %d goes past the end of the program", ln, max(ins.SkipTrue, ins.SkipFalse))
			}
		case bpf.ALUOpConstant:
			if ins.Val == 0 && (ins.Op == bpf.ALUOpDiv || ins.Op == bpf.ALUOpMod) {
				return fmt.Errorf("line %d: division by the constant 0", ln)
			}
		}
		insns[i] = ins
	}
	switch insns[len(insns)-1].(type) {
	case bpf.RetA, bpf.RetConstant:
	default:
		return fmt.Errorf("line %d: the last instruction must be a return", len(prog)+1)
	}
	if _, err := bpf.NewVM(insns); err != nil {
		return fmt.Errorf("program: %w", err)
	}
	return nil
}
