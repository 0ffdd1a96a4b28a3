package gopacketfork_test

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/gopacketfork"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// In ip mode the link type is Raw (101) in the fork too, and the fork's
// own decoder of it takes IPv4 and IPv6 by the version nibble; an empty
// frame is a decode error there, not the index panic google/gopacket
// v1.1.19 has (which is why layersglue replaces that decoder and this
// package does not).
func TestIPMode(t *testing.T) {
	mode := memifpcap.Config{Mode: memifpcap.ModeIP}
	srv, cli := pair(t, mode, mode)
	require.Equal(t, layers.LinkTypeRaw, srv.LinkType())
	ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
	udp4 := &layers.UDP{SrcPort: 1, DstPort: 2}
	require.NoError(t, udp4.SetNetworkLayerForChecksum(ip4))
	v4 := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(v4, serializeOpts, ip4, udp4,
		gopacket.Payload(bytes.Repeat([]byte{4}, 100))))
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
		SrcIP: bytes.Repeat([]byte{0xfd}, 16), DstIP: bytes.Repeat([]byte{0xfe}, 16)}
	udp6 := &layers.UDP{SrcPort: 3, DstPort: 4}
	require.NoError(t, udp6.SetNetworkLayerForChecksum(ip6))
	v6 := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(v6, serializeOpts, ip6, udp6,
		gopacket.Payload(bytes.Repeat([]byte{6}, 100))))
	frames := [][]byte{v4.Bytes(), v6.Bytes()}
	errc := send(cli, frames)
	src := gopacket.NewPacketSource(srv, srv.LinkType())
	for i, want := range []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p, err := src.NextPacket()
		require.NoError(t, err, "packet %d", i)
		require.Nil(t, p.ErrorLayer(), "packet %d", i)
		require.Equal(t, want, p.Layers()[0].LayerType(), "packet %d", i)
		require.NotNil(t, p.Layer(layers.LayerTypeUDP), "packet %d", i)
		require.Equal(t, frames[i], p.Data())
	}
	require.NoError(t, <-errc)
	n, err := srv.PollBatch(make([]gopacketfork.Message, 4))
	require.NoError(t, err)
	require.Zero(t, n, "a frame more than was sent")

	// SkipDecodeRecovery: a panic in the decoder would fail the test.
	p := gopacket.NewPacket(nil, layers.LinkTypeRaw, gopacket.DecodeOptions{SkipDecodeRecovery: true})
	require.NotNil(t, p.ErrorLayer())
}
