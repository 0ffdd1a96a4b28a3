// Command loopback is the smallest end-to-end memif run: it opens a memif
// server and a client on a fresh socket in this process, sends gopacket-built
// UDP frames from the client (including a 9000-byte jumbo frame, which
// crosses the ring as a chain of 2048-byte buffers), and decodes what the
// server receives with gopacket.NewPacketSource.
//
//	go run ./examples/loopback
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/memifpcap/memifpcap/memifpcap"
)

func main() {
	dir, err := os.MkdirTemp("", "memif-loopback")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "memif.sock")

	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, ID: 0})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cli, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleClient, Socket: sock, ID: 0})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.WaitLinkUp(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("link up: server and client on %s\n", sock)

	sizes := []int{64, 1500, 9000}
	for i, size := range sizes {
		if err := cli.WritePacketData(udpFrame(i, size)); err != nil {
			log.Fatal(err)
		}
	}
	src := gopacket.NewPacketSource(srv, srv.LinkType())
	for range sizes {
		p, err := src.NextPacket()
		if err != nil {
			log.Fatal(err)
		}
		md := p.Metadata()
		fmt.Printf("%s len %d: %s\n", md.Timestamp.Format("15:04:05.000000"), md.Length, summary(p))
	}
	st := srv.Stats()
	fmt.Printf("%d packets (%d bytes) received, %d bad descriptors\n", st.Packets, st.Bytes, st.BadDescriptors)
}

func udpFrame(seq, size int) []byte {
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
		DstMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	udp := &layers.UDP{SrcPort: 1024, DstPort: layers.UDPPort(9000 + seq)}
	udp.SetNetworkLayerForChecksum(ip)
	payload := make([]byte, size-14-20-8)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

func summary(p gopacket.Packet) string {
	s := ""
	for _, l := range p.Layers() {
		if s != "" {
			s += " / "
		}
		s += l.LayerType().String()
	}
	if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		s += fmt.Sprintf(" (UDP %d > %d)", u.SrcPort, u.DstPort)
	}
	return s
}
