package gopacketfork_test

import (
	"fmt"
	"log"

	"github.com/gopacket/gopacket"

	"github.com/memifpcap/memifpcap/gopacketfork"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// The README's example: capture from a memif link with the fork's
// NewPacketSource. (No Output: it needs a memif peer.)
func Example() {
	h, err := gopacketfork.Open(&memifpcap.Config{Socket: "/run/vpp/memif.sock"})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	for p := range gopacket.NewPacketSource(h, h.LinkType()).Packets() {
		fmt.Println(p)
	}
}
