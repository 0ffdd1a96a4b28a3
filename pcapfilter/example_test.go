package pcapfilter_test

import (
	"fmt"

	"github.com/memifpcap/memifpcap/pcapfilter"
	"golang.org/x/net/bpf"
)

func ExampleCompile() {
	prog, err := pcapfilter.Compile("udp dst port 53", pcapfilter.LinkTypeEthernet, 262144)
	if err != nil {
		panic(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		panic(err)
	}
	// Ethernet, IPv4 (IHL 5, UDP), UDP 1234 -> 53.
	frame := make([]byte, 42)
	frame[12], frame[13] = 0x08, 0x00
	frame[14], frame[23] = 0x45, 17
	frame[36], frame[37] = 0, 53
	n, _ := vm.Run(frame)
	fmt.Println(n)
	// Output: 262144
}

func ExampleDump() {
	raw, err := pcapfilter.CompileRaw("ip", pcapfilter.LinkTypeEthernet, 262144)
	if err != nil {
		panic(err)
	}
	fmt.Print(pcapfilter.Dump(raw, pcapfilter.DumpText))
	// Output:
	// (000) ldh      [12]
	// (001) jeq      #0x800           jt 2	jf 3
	// (002) ret      #262144
	// (003) ret      #0
}
