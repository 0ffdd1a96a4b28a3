// Command mkpcap writes a pcap file of -count Ethernet/IPv4/UDP frames of
// -size bytes each, the input bench/run replays with memifinject.
//
//	go run ./bench/mkpcap -size 64 -count 1024 -o /tmp/64.pcap
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func main() {
	size := flag.Int("size", 64, "frame size in `bytes`, 42 to 65535")
	count := flag.Int("count", 1024, "number of frames")
	out := flag.String("o", "", "output `file`")
	flag.Parse()
	if err := write(*out, *size, *count); err != nil {
		fmt.Fprintf(os.Stderr, "mkpcap: %v\n", err)
		os.Exit(1)
	}
}

func write(path string, size, count int) error {
	if path == "" {
		return fmt.Errorf("-o: no output file")
	}
	if size < 42 || size > 65535 {
		return fmt.Errorf("-size %d: want 42 to 65535", size)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return err
	}
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{198, 18, 0, 1}, DstIP: []byte{198, 18, 0, 2}}
	udp := &layers.UDP{SrcPort: 9, DstPort: 9}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < count; i++ {
		ip.Id = uint16(i)
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(make([]byte, size-42))); err != nil {
			f.Close()
			return err
		}
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Microsecond), CaptureLength: size, Length: size}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
