package gopacketfork

import (
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	layersglue "github.com/memifpcap/memifpcap/layers_glue"
)

// LinkTypeMemifPuntInject is layersglue.LinkTypeMemifPuntInject in the
// fork: LINKTYPE_USER0 (147), the link type of memif's punt/inject mode.
// It is layersglue's number, converted: the link types are the same
// numbers in both gopackets, only the Go types differ.
const LinkTypeMemifPuntInject = layers.LinkType(layersglue.LinkTypeMemifPuntInject)

// LayerTypeMemifPuntInject is the fork's layer type of a memif punt/inject
// frame, registered as number 1147, as layersglue registers its own in
// google/gopacket (the two registries are separate). The fork's
// RegisterLayerType panics if another package took the number first.
var LayerTypeMemifPuntInject = gopacket.RegisterLayerType(1147, gopacket.LayerTypeMetadata{
	Name:    "MemifPuntInject",
	Decoder: gopacket.DecodeFunc(decodeMemifPuntInject),
})

// MemifPuntInject is layersglue.MemifPuntInject for the fork: one opaque
// punt/inject frame. Contents is the whole frame, Payload is empty and
// decoding ends with it. It is a DecodingLayer and a SerializableLayer of
// the fork.
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

// NextLayerType returns gopacket.LayerTypeZero: nothing follows an opaque
// frame.
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

func init() {
	layers.LinkTypeMetadata[LinkTypeMemifPuntInject] = layers.EnumMetadata{
		DecodeWith: LayerTypeMemifPuntInject,
		Name:       "MemifPuntInject",
		LayerType:  LayerTypeMemifPuntInject,
	}
}
