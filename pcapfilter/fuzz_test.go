package pcapfilter

import (
	"testing"

	"golang.org/x/net/bpf"
)

// FuzzCompile: the compiler never panics, and every program it returns
// assembles, loads in the x/net VM and runs on arbitrary input.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"tcp", "port 53 or 80", "vlan 100 and udp", "ip[6:2] & 0x1fff = 0",
		"tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", "host 10.0.0.1 and not net 10.1.0.0/16",
		"ip6 net fd00::/8", "mpls 5 and ip", "pppoes 3 and udp", "len - 1 > ip[0] * 2",
		"ether host 1:2:3:4:5:6", "icmp[icmptype] = icmp-echo", "(tcp or udp) and portrange 1-1024"} {
		f.Add(s, uint8(0), []byte{0x45, 0, 0, 40})
	}
	f.Fuzz(func(t *testing.T, expr string, link uint8, pkt []byte) {
		lt := []LinkType{LinkTypeEthernet, LinkTypeRaw, LinkTypeUser0}[int(link)%3]
		raw, err := CompileRaw(expr, lt, 65535)
		if err != nil {
			return
		}
		prog := disassemble(raw)
		if _, err := bpf.Assemble(prog); err != nil {
			t.Fatalf("%q: does not assemble: %v", expr, err)
		}
		for _, ins := range prog {
			if _, ok := ins.(bpf.LoadExtension); ok {
				// A constant index that wraps below 0 ("ip[-1]" on a raw
				// link: ldb [4294967295]) lands in the kernel's ancillary
				// range; libpcap emits the very same load, which x/net's
				// VM refuses to run.
				return
			}
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%q: does not load: %v\n%s", expr, err, Dump(raw, DumpText))
		}
		if n, err := vm.Run(pkt); err != nil || (n != 0 && n != 65535) {
			t.Fatalf("%q: run: %d, %v", expr, n, err)
		}
	})
}
