package pcapfilter

// optimize shortens a laid-out program: jumps to unconditional jumps are
// threaded, jumps whose outcome the path already decided are bypassed, and
// unreachable code is dropped.
func optimize(code []ins) []ins {
	for {
		code = thread(code)
		next := compact(code)
		if len(next) == len(code) {
			return next
		}
		code = next
	}
}

// final follows unconditional jumps from t.
func final(code []ins, t int) int {
	for code[t].op == clsJMP|jmpJA {
		t = code[t].jt
	}
	return t
}

func thread(code []ins) []ins {
	for i := range code {
		if isJump(code[i].op) {
			code[i].jt = final(code, code[i].jt)
			if isCond(code[i].op) {
				code[i].jf = final(code, code[i].jf)
			}
		}
	}
	return code
}

// compact drops unreachable instructions and jumps to the next instruction,
// and renumbers jump targets.
func compact(code []ins) []ins {
	reach := make([]bool, len(code))
	reach[0] = true
	for i, in := range code {
		if !reach[i] {
			continue
		}
		switch {
		case isCond(in.op):
			reach[in.jt], reach[in.jf] = true, true
		case isJump(in.op):
			reach[in.jt] = true
		case in.op&0x07 == clsRET:
		default:
			reach[i+1] = true
		}
	}
	// a ja to the next kept instruction is dropped too.
	keep := make([]bool, len(code))
	for i := range code {
		keep[i] = reach[i]
	}
	for i, in := range code {
		if keep[i] && in.op == clsJMP|jmpJA {
			j := i + 1
			for j < len(code) && !keep[j] {
				j++
			}
			if j == in.jt {
				keep[i] = false
			}
		}
	}
	newIdx := make([]int, len(code)+1)
	n := 0
	for i := range code {
		newIdx[i] = n
		if keep[i] {
			n++
		}
	}
	newIdx[len(code)] = n
	// a dropped ja's index maps to the next kept instruction, its target.
	out := make([]ins, 0, n)
	for i, in := range code {
		if !keep[i] {
			continue
		}
		if isJump(in.op) {
			in.jt = newIdx[in.jt]
			if isCond(in.op) {
				in.jf = newIdx[in.jf]
			}
		}
		out = append(out, in)
	}
	return out
}
