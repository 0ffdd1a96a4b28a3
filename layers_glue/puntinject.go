package layersglue

import (
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// LayerTypeMemifPuntInject is the layer type of a memif punt/inject frame,
// registered as number 1147.
var LayerTypeMemifPuntInject = gopacket.RegisterLayerType(1147, gopacket.LayerTypeMetadata{
	Name:    "MemifPuntInject",
	Decoder: gopacket.DecodeFunc(decodeMemifPuntInject),
})

// MemifPuntInject is one frame of a memif link in punt/inject mode. memif
// does not say what such a frame holds (VPP's punt and inject nodes agree
// on it between themselves), so the layer is opaque: Contents is the whole
// frame, Payload is empty and decoding ends with it. An application that
// knows what follows decodes Contents itself, e.g. with
// gopacket.NewPacket(p.Contents, layers.LayerTypeEthernet, ...).
//
// It is a gopacket.DecodingLayer, for gopacket.DecodingLayerParser, and a
// gopacket.SerializableLayer: serializing it prepends Contents, so
// gopacket.SerializeLayers(buf, opts, &MemifPuntInject{...}) builds a frame
// to inject.
type MemifPuntInject struct {
	layers.BaseLayer
}

var (
	_ gopacket.DecodingLayer     = (*MemifPuntInject)(nil)
	_ gopacket.SerializableLayer = (*MemifPuntInject)(nil)
)

// LayerType returns LayerTypeMemifPuntInject.
func (m *MemifPuntInject) LayerType() gopacket.LayerType { return LayerTypeMemifPuntInject }

// CanDecode returns LayerTypeMemifPuntInject.
func (m *MemifPuntInject) CanDecode() gopacket.LayerClass { return LayerTypeMemifPuntInject }

// NextLayerType returns gopacket.LayerTypeZero: nothing is decoded after
// an opaque frame.
func (m *MemifPuntInject) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// DecodeFromBytes makes data, which may be empty, the whole frame. It
// never fails; Contents references data.
func (m *MemifPuntInject) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	m.Contents = data
	m.Payload = nil
	return nil
}

// SerializeTo prepends Contents to b.
func (m *MemifPuntInject) SerializeTo(b gopacket.SerializeBuffer, opts gopacket.SerializeOptions) error {
	dst, err := b.PrependBytes(len(m.Contents))
	if err != nil {
		return err
	}
	copy(dst, m.Contents)
	return nil
}

func decodeMemifPuntInject(data []byte, p gopacket.PacketBuilder) error {
	m := &MemifPuntInject{}
	_ = m.DecodeFromBytes(data, p)
	p.AddLayer(m)
	return nil
}
