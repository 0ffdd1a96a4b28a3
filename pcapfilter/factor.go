package pcapfilter

import "slices"

// factorOr rewrites disjunctions as libpcap's optimiser leaves them:
// alternatives that start with the same test share it ("ip and src = A or ip
// and dst = A" tests ip once), and in a disjunction of plain tests, tests of
// the same field are grouped ("src = A or dst = A or src = B" becomes "src =
// A or src = B or dst = A"), libpcap's or_pullup. The first changes nothing a
// packet can tell; the second changes which out-of-range load a short packet
// meets first, the way libpcap's does.
func factorOr(n *node) *node {
	switch n.op {
	case nAnd:
		return and(factorOr(n.l), factorOr(n.r))
	case nNot:
		return not(factorOr(n.l))
	case nOr:
	default:
		return n
	}
	var alts []*node
	var collect func(*node)
	collect = func(m *node) {
		if m.op == nOr {
			collect(m.l)
			collect(m.r)
			return
		}
		alts = append(alts, factorOr(m))
	}
	collect(n)
	if g := groupExclusive(alts); g != nil {
		return g
	}
	// Share a common first conjunct between neighbours.
	var merged []*node
	for _, a := range alts {
		if k := len(merged); k > 0 {
			p := merged[k-1]
			pf, pr := splitAnd(p)
			af, ar := splitAnd(a)
			if pr != nil && ar != nil && sameNode(pf, af) {
				merged[k-1] = and(pf, factorOr(or(pr, ar)))
				continue
			}
		}
		merged = append(merged, a)
	}
	// Group plain tests of one field.
	allAtoms := true
	for _, a := range merged {
		if a.op != nAtom {
			allAtoms = false
		}
	}
	if allAtoms && len(merged) > 2 {
		var grouped []*node
		used := make([]bool, len(merged))
		for i, a := range merged {
			if used[i] {
				continue
			}
			for j := i; j < len(merged); j++ {
				if !used[j] && slices.Equal(merged[j].stmts, a.stmts) {
					grouped = append(grouped, merged[j])
					used[j] = true
				}
			}
		}
		merged = grouped
	}
	r := merged[0]
	for _, a := range merged[1:] {
		r = or(r, a)
	}
	return r
}

// splitAnd returns the first conjunct of an and-chain and the rest (nil if
// n is not a conjunction).
func splitAnd(n *node) (*node, *node) {
	if n.op != nAnd {
		return n, nil
	}
	f, r := splitAnd(n.l)
	if r == nil {
		return f, n.r
	}
	return f, and(r, n.r)
}

func sameNode(a, b *node) bool {
	if a.op != b.op {
		return false
	}
	switch a.op {
	case nConst:
		return a.val == b.val
	case nAtom:
		return a.jop == b.jop && a.k == b.k && slices.Equal(a.stmts, b.stmts)
	case nNot:
		return sameNode(a.l, b.l)
	}
	return sameNode(a.l, b.l) && sameNode(a.r, b.r)
}

// groupExclusive handles a disjunction whose alternatives all start with a
// test of one field for equality ("ether type = IPv4 and ... or ether type =
// ARP and ..."): the alternatives with the same value share the test, and
// since a packet passes at most one value, the groups can go in any order
// with no change a packet can tell. nil if the alternatives are not so.
func groupExclusive(alts []*node) *node {
	var firsts, rests []*node
	for _, a := range alts {
		f, r := splitAnd(a)
		if f.op != nAtom || f.jop != jmpJEQ|srcK || !slices.Equal(f.stmts, alts[0].firstStmts()) {
			return nil
		}
		firsts, rests = append(firsts, f), append(rests, r)
	}
	type group struct {
		first *node // the test, or a disjunction of tests of the same field
		rest  *node // nil: the test alone
	}
	var groups []group
	used := make([]bool, len(alts))
	for i := range alts {
		if used[i] {
			continue
		}
		var rest *node
		whole := false
		for j := i; j < len(alts); j++ {
			if used[j] || firsts[j].k != firsts[i].k {
				continue
			}
			used[j] = true
			switch {
			case rests[j] == nil:
				whole = true
			case rest == nil:
				rest = rests[j]
			default:
				rest = or(rest, rests[j])
			}
		}
		if whole {
			rest = nil
		} else {
			rest = factorOr(rest)
		}
		// Values whose rest is the same share it: "arp and X or rarp and X"
		// is "(arp or rarp) and X".
		merged := false
		for g := range groups {
			if rest != nil && groups[g].rest != nil && sameNode(groups[g].rest, rest) {
				groups[g].first = or(groups[g].first, firsts[i])
				merged = true
				break
			}
		}
		if !merged {
			groups = append(groups, group{first: firsts[i], rest: rest})
		}
	}
	var out *node
	for _, g := range groups {
		n := g.first
		if g.rest != nil {
			n = and(n, g.rest)
		}
		if out == nil {
			out = n
		} else {
			out = or(out, n)
		}
	}
	return out
}

func (n *node) firstStmts() []ins {
	f, _ := splitAnd(n)
	return f.stmts
}
