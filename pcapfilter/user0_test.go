package pcapfilter

import (
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// tcpdump cannot compile for LINKTYPE_USER0 (-y knows no name for it), so
// this table follows libpcap's gencode for DLT_USER0: only raw accesses to the
// link header (link[...], ether[...]) and the length apply; anything needing
// a link-layer type field fails as libpcap's does.
func TestUser0(t *testing.T) {
	accept := []struct {
		expr  string
		pkt   []byte
		match bool
	}{
		{"len > 3", []byte{1, 2, 3, 4}, true},
		{"len > 4", []byte{1, 2, 3, 4}, false},
		{"less 4", []byte{1, 2, 3, 4}, true},
		{"greater 5", []byte{1, 2, 3, 4}, false},
		{"link[0] = 1", []byte{1, 2, 3, 4}, true},
		{"ether[1:2] = 0x0203", []byte{1, 2, 3, 4}, true},
		{"link[3] & 4 != 0", []byte{1, 2, 3, 4}, true},
		{"link[4] = 0 or len > 0", []byte{1, 2, 3, 4}, false}, // out of range: rejected
		{"", []byte{}, true},
	}
	for _, c := range accept {
		raw, err := CompileRaw(c.expr, LinkTypeUser0, 100)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		vm, err := bpf.NewVM(disassemble(raw))
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		n, _ := vm.Run(c.pkt)
		if want := map[bool]int{true: 100, false: 0}[c.match]; n != want {
			t.Errorf("%q on % x: %d, want %d", c.expr, c.pkt, n, want)
		}
	}
	refuse := map[string]string{
		"ip":                     "DLT 147 link-layer type filtering not implemented",
		"tcp port 80":            "DLT 147 link-layer type filtering not implemented",
		"host 10.0.0.1":          "DLT 147 link-layer type filtering not implemented",
		"ip[0] = 0x45":           "DLT 147 link-layer type filtering not implemented",
		"ether host 1:2:3:4:5:6": "ethernet addresses supported only on",
		"ether broadcast":        "not a broadcast link",
		"vlan":                   "no VLAN support for DLT 147",
		"mpls":                   "no MPLS support for DLT 147",
	}
	for expr, want := range refuse {
		_, err := CompileRaw(expr, LinkTypeUser0, 100)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", expr, err, want)
		}
	}
}
