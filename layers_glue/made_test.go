package layersglue_test

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"
)

// madeFrames serializes the kinds of frames the recorded captures hold:
// ARP (padded to 60 bytes), ICMP and ICMPv6 echoes, DNS over UDP, TCP over
// IPv4 and IPv6, 802.1Q, IPv4 and IPv6 fragments, a 9014-byte jumbo frame,
// an unknown EtherType, and the first 128 bytes of a jumbo frame (a capture
// truncated by its snap length).
func madeFrames(t *testing.T) [][]byte {
	t.Helper()
	macA := net.HardwareAddr{0x02, 0, 0, 0x77, 0, 0x0a}
	macB := net.HardwareAddr{0x02, 0, 0, 0x77, 0, 0x0b}
	a4, b4 := net.IP{10, 77, 0, 1}, net.IP{10, 77, 0, 2}
	a6, b6 := net.ParseIP("fd00:77::1"), net.ParseIP("fd00:77::2")
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: typ}
	}
	ip4 := func(proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: a4, DstIP: b4}
	}
	ip6 := func(next layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: a6, DstIP: b6}
	}
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
		return append([]byte(nil), buf.Bytes()...)
	}
	fill := func(n int) gopacket.Payload {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte('a' + i%26)
		}
		return p
	}
	var frames [][]byte

	frames = append(frames, ser(eth(layers.EthernetTypeARP), &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: a4,
		DstHwAddress: make([]byte, 6), DstProtAddress: b4,
	}))
	frames = append(frames, ser(eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}, fill(56)))

	icmp6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	v6 := ip6(layers.IPProtocolICMPv6)
	require.NoError(t, icmp6.SetNetworkLayerForChecksum(v6))
	frames = append(frames, ser(eth(layers.EthernetTypeIPv6), v6, icmp6, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, fill(56)))

	udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
	v4 := ip4(layers.IPProtocolUDP)
	require.NoError(t, udp.SetNetworkLayerForChecksum(v4))
	frames = append(frames, ser(eth(layers.EthernetTypeIPv4), v4, udp, &layers.DNS{
		ID: 0xbeef, RD: true, QDCount: 1,
		Questions: []layers.DNSQuestion{{Name: []byte("www.mpc.test"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
	}))

	tcp := &layers.TCP{SrcPort: 40001, DstPort: 8080, Seq: 1000, SYN: true, Window: 64240,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}}
	v4 = ip4(layers.IPProtocolTCP)
	require.NoError(t, tcp.SetNetworkLayerForChecksum(v4))
	frames = append(frames, ser(eth(layers.EthernetTypeIPv4), v4, tcp))

	tcp6 := &layers.TCP{SrcPort: 8080, DstPort: 40002, Seq: 5, Ack: 1001, ACK: true, PSH: true, Window: 500}
	v6 = ip6(layers.IPProtocolTCP)
	require.NoError(t, tcp6.SetNetworkLayerForChecksum(v6))
	frames = append(frames, ser(eth(layers.EthernetTypeIPv6), v6, tcp6, fill(1000)))

	vudp := &layers.UDP{SrcPort: 40003, DstPort: 7}
	v4 = ip4(layers.IPProtocolUDP)
	v4.SrcIP, v4.DstIP = net.IP{10, 77, 100, 1}, net.IP{10, 77, 100, 2}
	require.NoError(t, vudp.SetNetworkLayerForChecksum(v4))
	frames = append(frames, ser(eth(layers.EthernetTypeDot1Q),
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, v4, vudp, fill(100)))

	// IPv4 fragments of a 3000-byte UDP datagram: the first carries the UDP
	// header, the last only data.
	f1 := ip4(layers.IPProtocolUDP)
	f1.Flags = layers.IPv4MoreFragments
	frames = append(frames, ser(eth(layers.EthernetTypeIPv4), f1, fill(1480)))
	f2 := ip4(layers.IPProtocolUDP)
	f2.Flags, f2.FragOffset = 0, 1480/8
	frames = append(frames, ser(eth(layers.EthernetTypeIPv4), f2, fill(1520)))
	// An IPv6 fragment (gopacket cannot serialize the fragment header:
	// next header UDP, offset 0, more fragments, identification 77).
	v6 = ip6(layers.IPProtocolIPv6Fragment)
	fragHdr := []byte{byte(layers.IPProtocolUDP), 0, 0x00, 0x01, 0, 0, 0, 77}
	frames = append(frames, ser(eth(layers.EthernetTypeIPv6), v6, gopacket.Payload(append(fragHdr, fill(1448)...))))

	// Jumbo: 14 + 20 + 20 + 8960 = 9014 bytes.
	jtcp := &layers.TCP{SrcPort: 8080, DstPort: 40004, Seq: 1, Ack: 1, ACK: true, Window: 500}
	v4 = ip4(layers.IPProtocolTCP)
	require.NoError(t, jtcp.SetNetworkLayerForChecksum(v4))
	jumbo := ser(eth(layers.EthernetTypeIPv4), v4, jtcp, fill(8960))
	require.Len(t, jumbo, 9014)
	frames = append(frames, jumbo)

	frames = append(frames, ser(eth(0x88b5), fill(50)))
	frames = append(frames, jumbo[:128])
	return frames
}

// madeLayers is what each of madeFrames decodes to, read straight.
var madeLayers = [][]gopacket.LayerType{
	{layers.LayerTypeEthernet, layers.LayerTypeARP, gopacket.LayerTypePayload}, // the padding
	{layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeICMPv4, gopacket.LayerTypePayload},
	{layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeICMPv6, layers.LayerTypeICMPv6Echo},
	{layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeUDP, layers.LayerTypeDNS},
	{layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeTCP},
	{layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeTCP, gopacket.LayerTypePayload},
	{layers.LayerTypeEthernet, layers.LayerTypeDot1Q, layers.LayerTypeIPv4, layers.LayerTypeUDP, gopacket.LayerTypePayload},
	{layers.LayerTypeEthernet, layers.LayerTypeIPv4, gopacket.LayerTypeFragment},
	{layers.LayerTypeEthernet, layers.LayerTypeIPv4, gopacket.LayerTypeFragment},
	{layers.LayerTypeEthernet, layers.LayerTypeIPv6, layers.LayerTypeIPv6Fragment, gopacket.LayerTypeFragment},
	{layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeTCP, gopacket.LayerTypePayload},
	{layers.LayerTypeEthernet, gopacket.LayerTypeDecodeFailure}, // EtherType 0x88b5, for local experiments
	{layers.LayerTypeEthernet, layers.LayerTypeIPv4, layers.LayerTypeTCP, gopacket.LayerTypePayload},
}
