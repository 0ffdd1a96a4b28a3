package memifpcap_test

import (
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// The decoding fast path: a gopacket.DecodingLayerParser over
// ZeroCopyReadPacketData decodes into layers allocated once, straight from
// the shared memory the peer wrote; layersglue.FirstLayerType picks where
// to start for the link's mode. The frames are built in place in shared
// memory by a FrameWriter on the other side and sent as one batch.
func ExampleHandle_ZeroCopyReadPacketData() {
	dir, err := os.MkdirTemp("", "memifpcap-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "memif.sock")
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()

	// The client: three UDP frames, one publish.
	w := cli.NewFrameWriter()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for i, msg := range []string{"one", "two", "three"} {
		eth := &layers.Ethernet{
			SrcMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 1},
			DstMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv4,
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2}}
		udp := &layers.UDP{SrcPort: 4000, DstPort: layers.UDPPort(9000 + i)}
		_ = udp.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(w, opts, eth, ip, udp, gopacket.Payload(msg)); err != nil {
			w.Discard()
			log.Fatal(err)
		}
		if err := w.Queue(); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}

	// The server: decode without allocating.
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		udp     layers.UDP
		payload gopacket.Payload
	)
	first, _ := layersglue.FirstLayerType(srv.LinkType())
	parser := gopacket.NewDecodingLayerParser(first, &eth, &ip4, &ip6, &udp, &payload)
	decoded := make([]gopacket.LayerType, 0, 8)
	for i := 0; i < 3; i++ {
		data, ci, err := srv.ZeroCopyReadPacketData()
		if err != nil {
			log.Fatal(err)
		}
		if err := parser.DecodeLayers(data, &decoded); err != nil {
			log.Fatal(err)
		}
		q := ci.AncillaryData[0].(memifpcap.AncillaryQueue)
		fmt.Printf("queue %d, %d bytes: %v to port %d: %q\n", q.Queue, ci.Length, decoded, udp.DstPort, string(payload))
	}
	// Output:
	// queue 0, 60 bytes: [Ethernet IPv4 UDP Payload] to port 9000: "one"
	// queue 0, 60 bytes: [Ethernet IPv4 UDP Payload] to port 9001: "two"
	// queue 0, 60 bytes: [Ethernet IPv4 UDP Payload] to port 9002: "three"
}
