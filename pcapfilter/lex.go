package pcapfilter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

type tokKind int

const (
	tEOF  tokKind = iota
	tNum          // a number: decimal, 0x hex or 0 octal
	tHID          // a dotted IPv4 address or prefix of one (1 to 4 parts)
	tHID6         // an IPv6 address
	tEID          // an Ethernet address
	tID           // a name: a keyword or something to resolve
	tOp           // punctuation and operators
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the expression
	num  uint32
}

func (t token) String() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return fmt.Sprintf("'%s' (offset %d)", t.text, t.pos)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// lex splits expr the way libpcap's scanner does for the tokens this
// package knows: the longest match wins, so "len-1" is one name, as in libpcap.
func lex(expr string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(expr) {
		c := expr[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		if isAlnum(c) || c == ':' {
			t, n, err := lexWord(expr, i)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				toks = append(toks, t)
				i += n
				continue
			}
		}
		op := ""
		for _, two := range []string{">=", "<=", "!=", "==", "&&", "||", "<<", ">>"} {
			if strings.HasPrefix(expr[i:], two) {
				op = two
				break
			}
		}
		if op == "" && strings.IndexByte("+-*/%:[]!<>()&|^=", c) >= 0 {
			op = expr[i : i+1]
		}
		if op == "" {
			return nil, &Error{Pos: i, Msg: fmt.Sprintf("syntax error: unexpected character %q", c)}
		}
		if op == "==" {
			op = "="
		}
		toks = append(toks, token{kind: tOp, text: op, pos: i})
		i += len(op)
	}
	toks = append(toks, token{kind: tEOF, pos: len(expr)})
	return toks, nil
}

// lexWord scans an address, a number or a name at expr[i:]; n == 0 means
// the character there starts none (a lone ':').
func lexWord(expr string, i int) (token, int, error) {
	// Addresses with colons first: Ethernet xx:xx:xx:xx:xx:xx and IPv6.
	j := i
	for j < len(expr) && (isAlnum(expr[j]) || expr[j] == ':' || expr[j] == '.') {
		j++
	}
	if w := expr[i:j]; strings.Contains(w, ":") {
		if isMAC(w) {
			return token{kind: tEID, text: w, pos: i}, len(w), nil
		}
		if a, err := netip.ParseAddr(w); err == nil && a.Is6() && !strings.Contains(w, "%") {
			return token{kind: tHID6, text: w, pos: i}, len(w), nil
		}
	}
	if expr[i] == ':' {
		return token{}, 0, nil
	}
	// A name: [A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?
	j = i + 1
	end := j
	for j < len(expr) && (isAlnum(expr[j]) || expr[j] == '-' || expr[j] == '_' || expr[j] == '.') {
		j++
		if isAlnum(expr[j-1]) || expr[j-1] == '.' {
			end = j
		}
	}
	w := expr[i:end]
	t := token{kind: tID, text: w, pos: i}
	if v, ok, err := parseNum(w); ok {
		if err != nil {
			return token{}, 0, &Error{Pos: i, Msg: err.Error()}
		}
		t.kind, t.num = tNum, v
	} else if isHID(w) {
		t.kind = tHID
	}
	return t, len(w), nil
}

// parseNum reads libpcap's numbers: 0x hex, leading-0 octal, decimal.
func parseNum(w string) (uint32, bool, error) {
	base, digits := 10, w
	switch {
	case len(w) > 2 && (w[:2] == "0x" || w[:2] == "0X"):
		base, digits = 16, w[2:]
	case len(w) > 1 && w[0] == '0':
		base, digits = 8, w[1:]
	}
	for k := 0; k < len(digits); k++ {
		c := digits[k]
		ok := base == 16 && isHex(c) || base == 10 && c >= '0' && c <= '9' || base == 8 && c >= '0' && c <= '7'
		if !ok {
			if base == 8 && c >= '8' && c <= '9' && strings.Trim(w, "0123456789") == "" {
				return 0, true, fmt.Errorf("number %s contains non-octal digit", w)
			}
			return 0, false, nil
		}
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, true, fmt.Errorf("number %s overflows 32 bits", w)
	}
	return uint32(v), true, nil
}

// isHID reports whether w is 2 to 4 dot-separated decimal numbers.
func isHID(w string) bool {
	parts := strings.Split(w, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func isMAC(w string) bool {
	parts := strings.Split(w, ":")
	if len(parts) != 6 {
		return false
	}
	for _, p := range parts {
		if len(p) < 1 || len(p) > 2 || !isHex(p[0]) || len(p) == 2 && !isHex(p[1]) {
			return false
		}
	}
	return true
}

// parseHID returns the address of a dotted IPv4 prefix and how many bits it
// gives, as libpcap's __pcap_atoin: "10.1" is 10.1.0.0 with 16 bits.
func parseHID(w string) (uint32, int, error) {
	var v uint32
	parts := strings.Split(w, ".")
	for _, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n > 255 {
			return 0, 0, fmt.Errorf("invalid IPv4 address '%s'", w)
		}
		v = v<<8 | uint32(n)
	}
	return v, 8 * len(parts), nil
}
