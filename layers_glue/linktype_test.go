package layersglue_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/memifpcap"
)

func TestModesAndLinkTypes(t *testing.T) {
	for _, c := range []struct {
		mode memifpcap.Mode
		lt   layers.LinkType
		name string
	}{
		{memifpcap.ModeEthernet, layers.LinkTypeEthernet, "EN10MB (Ethernet)"},
		{memifpcap.ModeIP, layers.LinkTypeRaw, "RAW (Raw IP)"},
		{memifpcap.ModePuntInject, 147, "USER0 (memif punt/inject)"},
	} {
		assert.Equal(t, c.lt, layersglue.LinkTypeForMode(c.mode), "LinkTypeForMode(%v)", c.mode)
		m, ok := layersglue.ModeForLinkType[memifpcap.Mode](c.lt)
		assert.True(t, ok, "ModeForLinkType(%d)", c.lt)
		assert.Equal(t, c.mode, m, "ModeForLinkType(%d)", c.lt)
		assert.Equal(t, c.name, layersglue.LinkTypeName(c.lt))
	}
	assert.Equal(t, layers.LinkType(0), layersglue.LinkTypeForMode(memifpcap.Mode(3)))
	for _, lt := range []layers.LinkType{layers.LinkTypeIPv4, layers.LinkTypeIPv6} {
		m, ok := layersglue.ModeForLinkType[memifpcap.Mode](lt)
		assert.True(t, ok && m == memifpcap.ModeIP, "ModeForLinkType(%d) = %v, %v, want ip", lt, m, ok)
	}
	assert.Equal(t, "IPV4 (Raw IPv4)", layersglue.LinkTypeName(layers.LinkTypeIPv4))
	assert.Equal(t, "IPV6 (Raw IPv6)", layersglue.LinkTypeName(layers.LinkTypeIPv6))
	for _, lt := range []layers.LinkType{layers.LinkTypeNull, layers.LinkTypeLinuxSLL, 148, 12} {
		_, ok := layersglue.ModeForLinkType[memifpcap.Mode](lt)
		assert.False(t, ok, "ModeForLinkType(%d)", lt)
	}
	assert.Equal(t, "LINUX_SLL (Linux cooked v1)", layersglue.LinkTypeName(layers.LinkTypeLinuxSLL))
	assert.Equal(t, "148 (UnknownLinkType)", layersglue.LinkTypeName(layers.LinkType(148)))
	assert.Equal(t, "LINUX_SLL2 (Linux cooked v2)", layersglue.LinkTypeName(uint32(276)))
	assert.Equal(t, "257", layersglue.LinkTypeName(uint32(257)))
	// 257 is not Ethernet (1), whatever a uint8 would make of it.
	assert.False(t, layersglue.ModeCarries(memifpcap.ModeEthernet, 257))
	assert.True(t, layersglue.ModeCarries(memifpcap.ModeIP, 229))
	assert.True(t, layersglue.ModeCarries(memifpcap.ModePuntInject, 147))
	assert.False(t, layersglue.ModeCarries(memifpcap.ModeIP, 1))

	// gopacket's own view of link type 147 after the registration.
	lt := layersglue.LinkTypeMemifPuntInject
	assert.Equal(t, "MemifPuntInject", lt.String())
	assert.Equal(t, layersglue.LayerTypeMemifPuntInject, lt.LayerType())
	assert.Equal(t, "MemifPuntInject", layersglue.LayerTypeMemifPuntInject.String())
	assert.Equal(t, "RawIP", layersglue.LayerTypeRawIP.String())
}

func TestFirstLayerType(t *testing.T) {
	for lt, want := range map[layers.LinkType]gopacket.LayerType{
		layers.LinkTypeEthernet:            layers.LayerTypeEthernet,
		layers.LinkTypeRaw:                 layersglue.LayerTypeRawIP,
		layers.LinkTypeIPv4:                layers.LayerTypeIPv4,
		layers.LinkTypeIPv6:                layers.LayerTypeIPv6,
		layersglue.LinkTypeMemifPuntInject: layersglue.LayerTypeMemifPuntInject,
	} {
		got, ok := layersglue.FirstLayerType(lt)
		assert.True(t, ok)
		assert.Equal(t, want, got, "FirstLayerType(%d)", lt)
	}
	_, ok := layersglue.FirstLayerType(layers.LinkTypeLinuxSLL)
	assert.False(t, ok)
}

func layerTypes(p gopacket.Packet) []gopacket.LayerType {
	var ts []gopacket.LayerType
	for _, l := range p.Layers() {
		ts = append(ts, l.LayerType())
	}
	return ts
}

func TestDecodePuntInject(t *testing.T) {
	frame := []byte("\x45any bytes at all, even ones that look like IPv4")
	for _, opts := range []gopacket.DecodeOptions{gopacket.Default, gopacket.NoCopy, {Lazy: true}} {
		p := gopacket.NewPacket(frame, layersglue.LinkTypeMemifPuntInject, opts)
		require.Nil(t, p.ErrorLayer())
		require.Equal(t, []gopacket.LayerType{layersglue.LayerTypeMemifPuntInject}, layerTypes(p))
		l := p.Layer(layersglue.LayerTypeMemifPuntInject).(*layersglue.MemifPuntInject)
		require.Equal(t, frame, l.Contents)
		require.Empty(t, l.LayerPayload())
	}
	// An empty frame is an empty layer, not an error.
	p := gopacket.NewPacket(nil, layersglue.LinkTypeMemifPuntInject, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
	require.Len(t, p.Layers(), 1)

	// DecodingLayerParser.
	var pi layersglue.MemifPuntInject
	first, _ := layersglue.FirstLayerType(layersglue.LinkTypeMemifPuntInject)
	parser := gopacket.NewDecodingLayerParser(first, &pi)
	var decoded []gopacket.LayerType
	require.NoError(t, parser.DecodeLayers(frame, &decoded))
	require.Equal(t, []gopacket.LayerType{layersglue.LayerTypeMemifPuntInject}, decoded)
	require.Equal(t, frame, pi.Contents)

	// Serializing it builds the frame to inject.
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{},
		&layersglue.MemifPuntInject{BaseLayer: layers.BaseLayer{Contents: frame[:10]}}, gopacket.Payload(frame[10:])))
	require.Equal(t, frame, buf.Bytes())
}

// ipPacket serializes an IPv4 (or IPv6) UDP packet, without Ethernet.
func ipPacket(t testing.TB, v6 bool, payload []byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9} // not 53: the payload is no DNS message
	var ip gopacket.SerializableLayer
	if v6 {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: net.ParseIP("fd00:77::1"), DstIP: net.ParseIP("fd00:77::2")}
		_ = udp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	} else {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP{10, 77, 0, 1}, DstIP: net.IP{10, 77, 0, 2}}
		_ = udp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, opts, ip, udp, gopacket.Payload(payload)))
	return buf.Bytes()
}

func TestDecodeRawIP(t *testing.T) {
	v4, v6 := ipPacket(t, false, []byte("four")), ipPacket(t, true, []byte("six"))
	ipv4 := []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeUDP, gopacket.LayerTypePayload}
	ipv6 := []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeUDP, gopacket.LayerTypePayload}

	p := gopacket.NewPacket(v4, layers.LinkTypeRaw, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
	require.Equal(t, ipv4, layerTypes(p))
	p = gopacket.NewPacket(v6, layers.LinkTypeRaw, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
	require.Equal(t, ipv6, layerTypes(p))
	require.Equal(t, []byte("six"), p.ApplicationLayer().Payload())

	// A hostile peer's empty or non-IP frame is a decode failure, never a
	// panic, even when gopacket is told not to recover from one.
	noRecover := gopacket.DecodeOptions{SkipDecodeRecovery: true}
	for _, bad := range [][]byte{nil, {}, {0x50, 1, 2}, {0x00}} {
		p := gopacket.NewPacket(bad, layers.LinkTypeRaw, noRecover)
		require.NotNil(t, p.ErrorLayer(), "frame %x", bad)
		p = gopacket.NewPacket(bad, layersglue.LayerTypeRawIP, noRecover)
		require.NotNil(t, p.ErrorLayer(), "frame %x", bad)
	}

	// Decoding from LayerTypeRawIP keeps the pseudo-layer in front.
	p = gopacket.NewPacket(v6, layersglue.LayerTypeRawIP, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
	require.Equal(t, append([]gopacket.LayerType{layersglue.LayerTypeRawIP}, ipv6...), layerTypes(p))
	r := p.Layer(layersglue.LayerTypeRawIP).(*layersglue.RawIP)
	require.Equal(t, uint8(6), r.Version)
	require.Empty(t, r.LayerContents())
	require.Equal(t, v6, r.LayerPayload())

	// A DecodingLayerParser starting at RawIP takes either version.
	var (
		raw     layersglue.RawIP
		ip4     layers.IPv4
		ip6     layers.IPv6
		udp     layers.UDP
		payload gopacket.Payload
	)
	first, _ := layersglue.FirstLayerType(layers.LinkTypeRaw)
	parser := gopacket.NewDecodingLayerParser(first, &raw, &ip4, &ip6, &udp, &payload)
	var decoded []gopacket.LayerType
	require.NoError(t, parser.DecodeLayers(v4, &decoded))
	require.Equal(t, append([]gopacket.LayerType{layersglue.LayerTypeRawIP}, ipv4...), decoded)
	require.NoError(t, parser.DecodeLayers(v6, &decoded))
	require.Equal(t, append([]gopacket.LayerType{layersglue.LayerTypeRawIP}, ipv6...), decoded)
	require.Equal(t, []byte("six"), []byte(payload))
	require.Error(t, parser.DecodeLayers([]byte{0x70, 0, 0}, &decoded))
}

// Captures of link type 147, as memifdump writes them for punt/inject
// links, decode with pcapgo's readers and a PacketSource.
func TestPuntInjectCaptureFiles(t *testing.T) {
	frames := [][]byte{[]byte("first"), bytes.Repeat([]byte{0xee}, 9000), {0}}
	lt := layersglue.LinkTypeMemifPuntInject
	check := func(t *testing.T, src gopacket.PacketDataSource, got layers.LinkType) {
		require.Equal(t, lt, got)
		ps := gopacket.NewPacketSource(src, got)
		for _, f := range frames {
			p, err := ps.NextPacket()
			require.NoError(t, err)
			require.Nil(t, p.ErrorLayer())
			require.Equal(t, []gopacket.LayerType{layersglue.LayerTypeMemifPuntInject}, layerTypes(p))
			require.Equal(t, f, p.Layer(layersglue.LayerTypeMemifPuntInject).LayerContents())
		}
		_, err := ps.NextPacket()
		require.ErrorIs(t, err, io.EOF)
	}
	ci := func(n int) gopacket.CaptureInfo {
		return gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: n, Length: n}
	}
	t.Run("pcap", func(t *testing.T) {
		var file bytes.Buffer
		w := pcapgo.NewWriterNanos(&file)
		require.NoError(t, w.WriteFileHeader(262144, lt))
		for _, f := range frames {
			require.NoError(t, w.WritePacket(ci(len(f)), f))
		}
		r, err := pcapgo.NewReader(&file)
		require.NoError(t, err)
		check(t, r, r.LinkType())
	})
	t.Run("pcapng", func(t *testing.T) {
		var file bytes.Buffer
		w, err := pcapgo.NewNgWriter(&file, lt)
		require.NoError(t, err)
		for _, f := range frames {
			require.NoError(t, w.WritePacket(ci(len(f)), f))
		}
		require.NoError(t, w.Flush())
		r, err := pcapgo.NewNgReader(&file, pcapgo.DefaultNgReaderOptions)
		require.NoError(t, err)
		check(t, r, r.LinkType())
	})
}
