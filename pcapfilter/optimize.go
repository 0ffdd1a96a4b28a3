package pcapfilter

// The optimiser works on the laid-out program (absolute, forward-only jump
// targets). It does what libpcap's does where that changes verdicts on short
// packets, and what keeps programs short:
//   - a jump whose outcome the path already decided (the same field was
//     compared before) is bypassed: each edge is threaded past the tests its
//     own path decides;
//   - a test whose two outcomes lead to the same place is dropped, and so
//     is a load nothing reads (libpcap drops both, so a packet too short for
//     that load is not rejected for it);
//   - a load of a value A or X already holds is dropped.

// valKey names a value a register can hold: a fixed-offset load, or the
// packet length, optionally masked.
type valKey struct {
	op     uint16 // load opcode; 0 means none known
	k      uint32
	mask   uint32
	masked bool
	xop    uint16 // for a load at [x + k]: what X held (a 4*([k]&0xf))
	xk     uint32
}

// valFact is what a path knows of a value: it is one of in (when inSet), or
// none of ne.
type valFact struct {
	inSet bool
	in    []uint32
	ne    []uint32
}

type facts map[valKey]valFact

// learn returns the facts after jump op (on K) on key went the taken way;
// ok is false when the path is impossible.
func (f facts) learn(key valKey, op uint16, k uint32, taken bool) (facts, bool) {
	if key.op == 0 {
		return f, true
	}
	v, have := f[key]
	var nv valFact
	switch {
	case have && v.inSet:
		nv.inSet = true
		for _, x := range v.in {
			if jumpTaken(op, x, k) == taken {
				nv.in = append(nv.in, x)
			}
		}
		if len(nv.in) == 0 {
			return f, false
		}
	case op&0xf0 == jmpJEQ && taken:
		if have && contains(v.ne, k) {
			return f, false
		}
		nv = valFact{inSet: true, in: []uint32{k}}
	case op&0xf0 == jmpJEQ:
		nv.ne = append(append([]uint32(nil), v.ne...), k)
	default:
		return f, true
	}
	g := make(facts, len(f)+1)
	for kk, vv := range f {
		g[kk] = vv
	}
	g[key] = nv
	return g, true
}

// decide reports the outcome of jump op (on K) for the value key, if known.
func (f facts) decide(key valKey, op uint16, k uint32) (taken, ok bool) {
	if key.op == 0 {
		return false, false
	}
	v, have := f[key]
	if !have {
		return false, false
	}
	if v.inSet {
		first := jumpTaken(op, v.in[0], k)
		for _, x := range v.in[1:] {
			if jumpTaken(op, x, k) != first {
				return false, false
			}
		}
		return first, true
	}
	if op&0xf0 == jmpJEQ && contains(v.ne, k) {
		return false, true
	}
	return false, false
}

// meet is what two paths both know.
func meet(a, b facts) facts {
	m := facts{}
	for k, v := range a {
		w, ok := b[k]
		if !ok {
			continue
		}
		switch {
		case v.inSet && w.inSet:
			u := append([]uint32(nil), v.in...)
			for _, x := range w.in {
				if !contains(u, x) {
					u = append(u, x)
				}
			}
			if len(u) <= 16 {
				m[k] = valFact{inSet: true, in: u}
			}
		default:
			if v.inSet {
				v, w = w, v
			}
			// v excludes v.ne; w is in w.in or excludes w.ne.
			var ne []uint32
			for _, x := range v.ne {
				if w.inSet && !contains(w.in, x) || !w.inSet && contains(w.ne, x) {
					ne = append(ne, x)
				}
			}
			if len(ne) > 0 {
				m[k] = valFact{ne: ne}
			}
		}
	}
	return m
}

func isFixedLoad(in ins) bool {
	return in.op == clsLD|szW|modeABS || in.op == clsLD|szH|modeABS ||
		in.op == clsLD|szB|modeABS || in.op == clsLD|szW|modeLEN
}

// step gives A's value key after in, from the key before.
func step(a valKey, in ins) valKey {
	switch {
	case isFixedLoad(in):
		return valKey{op: in.op, k: in.k}
	case in.op == clsALU|aluAND|srcK:
		if a.op != 0 && !a.masked {
			return valKey{op: a.op, k: a.k, mask: in.k, masked: true}
		}
		return valKey{}
	case writesA(in):
		return valKey{}
	}
	return a
}

func writesA(in ins) bool {
	switch in.op & 0x07 {
	case clsLD, clsALU:
		return true
	case clsMISC:
		return in.op&0xf8 == miscTXA
	}
	return false
}

func optimize(code []ins) []ins {
	for {
		n := len(code)
		code = compact(thread(threadFacts(code)))
		code = compact(dropDead(code))
		if len(code) == n {
			break
		}
	}
	return compact(dropRedundantLoads(code))
}

// threadFacts redirects every conditional edge past the tests its path
// decides.
func threadFacts(code []ins) []ins {
	type state struct {
		a   valKey
		f   facts
		set bool
	}
	in := make([]state, len(code))
	in[0] = state{f: facts{}, set: true}
	merge := func(t int, a valKey, f facts) {
		s := &in[t]
		if !s.set {
			*s = state{a: a, f: f, set: true}
			return
		}
		if s.a != a {
			s.a = valKey{}
		}
		m := meet(s.f, f)
		s.f = m
	}
	// follow runs from t with A holding a and facts f, through loads and
	// tests the facts decide, or whose outcomes all land at the same place;
	// it returns where the edge can land instead of t (-1: no feasible path).
	var follow func(t int, a valKey, f facts, depth int) int
	follow = func(t int, a valKey, f facts, depth int) int {
		land := t
		for steps := 0; steps < len(code); steps++ {
			c := code[t]
			switch {
			case c.op == clsJMP|jmpJA:
				t = c.jt
				land = t
				continue
			case isFixedLoad(c) || c.op == clsALU|aluAND|srcK:
				a = step(a, c)
				t++
				continue
			case isCond(c.op) && c.op&srcX == 0 && a.op != 0:
				if taken, ok := f.decide(a, c.op, c.k); ok {
					if taken {
						t = c.jt
					} else {
						t = c.jf
					}
					land = t
					continue
				}
				// Branch only on a value this path loaded before: skipping a
				// first load would hide its out-of-range rejection.
				if _, known := f[a]; !known || depth >= 8 {
					return land
				}
				ft, okT := f.learn(a, c.op, c.k, true)
				ff, okF := f.learn(a, c.op, c.k, false)
				lt, lf := -1, -1
				if okT {
					lt = follow(c.jt, a, ft, depth+1)
				}
				if okF {
					lf = follow(c.jf, a, ff, depth+1)
				}
				switch {
				case lt == -1 && lf == -1:
					return -1
				case lt == -1:
					t, land = lf, lf
				case lf == -1 || lt == lf:
					t, land = lt, lt
				default:
					return land
				}
				// t is a landing place: its path state is no longer a, f; stop.
				return land
			}
			return land
		}
		return land
	}
	for i := range code {
		s := in[i]
		if !s.set {
			continue
		}
		c := &code[i]
		a := step(s.a, *c)
		switch {
		case isCond(c.op) && c.op&srcX == 0:
			if taken, ok := s.f.decide(s.a, c.op, c.k); ok {
				t := c.jf
				if taken {
					t = c.jt
				}
				*c = ins{op: clsJMP | jmpJA, jt: t}
				merge(t, a, s.f)
				continue
			}
			ft, okT := s.f.learn(s.a, c.op, c.k, true)
			ff, okF := s.f.learn(s.a, c.op, c.k, false)
			if okT {
				if l := follow(c.jt, a, ft, 0); l >= 0 {
					c.jt = l
				}
				merge(c.jt, a, ft)
			}
			if okF {
				if l := follow(c.jf, a, ff, 0); l >= 0 {
					c.jf = l
				}
				merge(c.jf, a, ff)
			}
		case isCond(c.op):
			merge(c.jt, a, s.f)
			merge(c.jf, a, s.f)
		case isJump(c.op):
			merge(c.jt, a, s.f)
		case c.op&0x07 == clsRET:
		default:
			merge(i+1, a, s.f)
		}
	}
	return code
}

func contains(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// final follows unconditional jumps from t.
func final(code []ins, t int) int {
	for code[t].op == clsJMP|jmpJA {
		t = code[t].jt
	}
	return t
}

// thread points jumps past unconditional jumps and turns tests with one
// destination into unconditional jumps.
func thread(code []ins) []ins {
	for i := range code {
		if isJump(code[i].op) {
			code[i].jt = final(code, code[i].jt)
			if isCond(code[i].op) {
				code[i].jf = final(code, code[i].jf)
				if code[i].jt == code[i].jf {
					code[i] = ins{op: clsJMP | jmpJA, jt: code[i].jt}
				}
			}
		}
	}
	return code
}

// dropDead turns into no-ops (ja to the next instruction) the loads and
// computations whose result nothing reads.
func dropDead(code []ins) []ins {
	const regA, regX = 1, 2
	live := make([]int, len(code)+1) // registers live before instruction i
	for i := len(code) - 1; i >= 0; i-- {
		c := code[i]
		var out int
		switch {
		case isCond(c.op):
			out = live[c.jt] | live[c.jf]
		case isJump(c.op):
			out = live[c.jt]
		case c.op&0x07 == clsRET:
			out = 0
		default:
			out = live[i+1]
		}
		reads, writes := regsOf(c)
		if writes != 0 && out&writes == 0 && c.op&0x07 != clsST && c.op&0x07 != 0x03 {
			code[i] = ins{op: clsJMP | jmpJA, jt: i + 1}
			live[i] = out
			continue
		}
		live[i] = out&^writes | reads
	}
	return code
}

// regsOf returns the registers an instruction reads and writes (1 A, 2 X).
func regsOf(c ins) (reads, writes int) {
	const regA, regX = 1, 2
	switch c.op & 0x07 {
	case clsLD:
		if c.op&0xe0 == modeIND {
			return regX, regA
		}
		return 0, regA
	case clsLDX:
		return 0, regX
	case clsST:
		return regA, 0
	case 0x03:
		return regX, 0
	case clsALU:
		if c.op&0xf0 == aluNEG || c.op&srcX == 0 {
			return regA, regA
		}
		return regA | regX, regA
	case clsJMP:
		if !isCond(c.op) {
			return 0, 0
		}
		if c.op&srcX != 0 {
			return regA | regX, 0
		}
		return regA, 0
	case clsRET:
		if c.op&0x18 == 0x10 {
			return regA, 0
		}
		return 0, 0
	case clsMISC:
		if c.op&0xf8 == miscTAX {
			return regA, regX
		}
		return regX, regA
	}
	return 0, 0
}

// dropRedundantLoads removes a fixed load (or ldxb of the same header) when
// the register already holds that value on every path.
func dropRedundantLoads(code []ins) []ins {
	type regs struct {
		a, x valKey
		set  bool
	}
	in := make([]regs, len(code))
	in[0].set = true
	merge := func(t int, r regs) {
		if !in[t].set {
			in[t] = r
			return
		}
		if in[t].a != r.a {
			in[t].a = valKey{}
		}
		if in[t].x != r.x {
			in[t].x = valKey{}
		}
	}
	for i := range code {
		r := in[i]
		if !r.set {
			continue
		}
		c := code[i]
		switch {
		case isFixedLoad(c) && r.a == (valKey{op: c.op, k: c.k}):
			code[i] = ins{op: clsJMP | jmpJA, jt: i + 1}
		case c.op == clsLDX|szB|modeMSH && r.x == (valKey{op: c.op, k: c.k}):
			code[i] = ins{op: clsJMP | jmpJA, jt: i + 1}
		case c.op&0x07 == clsLD && c.op&0xe0 == modeIND && r.x.op != 0 &&
			r.a == (valKey{op: c.op, k: c.k, xop: r.x.op, xk: r.x.k}):
			code[i] = ins{op: clsJMP | jmpJA, jt: i + 1}
		case c.op&0x07 == clsLD && c.op&0xe0 == modeIND:
			r.a = valKey{}
			if r.x.op != 0 {
				r.a = valKey{op: c.op, k: c.k, xop: r.x.op, xk: r.x.k}
			}
		default:
			r.a = step(r.a, c)
			switch {
			case c.op == clsLDX|szB|modeMSH:
				r.x = valKey{op: c.op, k: c.k}
			case c.op&0x07 == clsLDX || c.op == clsMISC|miscTAX:
				r.x = valKey{}
			}
		}
		switch {
		case isCond(code[i].op):
			merge(code[i].jt, r)
			merge(code[i].jf, r)
		case isJump(code[i].op):
			merge(code[i].jt, r)
		case code[i].op&0x07 == clsRET:
		default:
			merge(i+1, r)
		}
	}
	return code
}

// compact drops unreachable instructions and jumps to the next instruction,
// and renumbers jump targets.
func compact(code []ins) []ins {
	code = thread(code)
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
	keep := make([]bool, len(code))
	copy(keep, reach)
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
