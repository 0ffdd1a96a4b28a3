package pcapfilter

import (
	"errors"
	"testing"
)

// Errors name the token and its byte offset.
func TestErrorPositions(t *testing.T) {
	cases := []struct {
		expr string
		pos  int
		msg  string
	}{
		{"tcp and", 7, "syntax error at end of expression"},
		{"tcp port", 8, "syntax error at end of expression"},
		{"port 53 )", 8, "syntax error at ')' (offset 8)"},
		{"host foo", 5, "unknown host 'foo' (numbers only: no name resolution)"},
		{"tcp port http", 9, "unknown port 'http' (numbers only: no name resolution)"},
		{"port 65536", 5, "illegal port number 65536 > 65535"},
		{"vlan 4096", 0, "VLAN tag 4096 greater than maximum 4095"},
		{"len / 0 = 1", 4, "division by zero"},
		{"ip[0:3] = 1", 5, "data size must be 1, 2, or 4"},
		{"net 10.0.0.1/8", 4, "non-network bits set in \"10.0.0.1/8\""},
		{"ip protochain 6", 3, "'protochain' is not supported: libpcap's protochain program jumps backwards, which classic BPF cannot run"},
		{"tcp and 1.2.3.4", 8, "syntax error in filter expression: '1.2.3.4' (offset 8) has no qualifier to inherit"},
		{"1 = 2", 0, "expression rejects all packets"},
		{"ip and ip6", 0, "expression rejects all packets"},
		{"len > 4294967296", 6, "number 4294967296 overflows 32 bits"},
		{"tcp $", 4, "syntax error: unexpected character '$'"},
	}
	for _, c := range cases {
		_, err := CompileRaw(c.expr, LinkTypeEthernet, 262144)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %v, want *Error", c.expr, err)
			continue
		}
		if e.Pos != c.pos || e.Msg != c.msg {
			t.Errorf("%q: (%d, %q), want (%d, %q)", c.expr, e.Pos, e.Msg, c.pos, c.msg)
		}
	}
}
