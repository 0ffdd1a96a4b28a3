package layersglue

import (
	"errors"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// LayerTypeRawIP is the layer type of RawIP, registered as number 1101.
var LayerTypeRawIP = gopacket.RegisterLayerType(1101, gopacket.LayerTypeMetadata{
	Name:    "RawIP",
	Decoder: gopacket.DecodeFunc(decodeRawIPLayer),
})

// errEmptyIP is what decoding an empty ip-mode frame reports.
var errEmptyIP = errors.New("layersglue: empty frame, no IP version nibble")

// RawIP is the start of a frame of a memif link in ip mode (link type
// Raw): a bare IPv4 or IPv6 packet, told apart by the version nibble. It
// has no bytes of its own (Contents is empty, Payload the whole frame);
// it exists so that a gopacket.DecodingLayerParser can start there and go on
// to IPv4 or IPv6, which a parser fixed on one of them cannot (see
// FirstLayerType). gopacket.NewPacket and PacketSource decode ip-mode frames
// straight to IPv4 or IPv6 and never produce it.
type RawIP struct {
	layers.BaseLayer
	// Version is the version nibble of the frame's first byte: 4 or 6.
	Version uint8
}

var _ gopacket.DecodingLayer = (*RawIP)(nil)

// LayerType returns LayerTypeRawIP.
func (r *RawIP) LayerType() gopacket.LayerType { return LayerTypeRawIP }

// CanDecode returns LayerTypeRawIP.
func (r *RawIP) CanDecode() gopacket.LayerClass { return LayerTypeRawIP }

// NextLayerType returns layers.LayerTypeIPv4 or layers.LayerTypeIPv6, by
// Version.
func (r *RawIP) NextLayerType() gopacket.LayerType {
	if r.Version == 6 {
		return layers.LayerTypeIPv6
	}
	return layers.LayerTypeIPv4
}

// DecodeFromBytes reads the version nibble. An empty frame, or a version
// other than 4 and 6, is an error.
func (r *RawIP) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) == 0 {
		return errEmptyIP
	}
	v := data[0] >> 4
	if v != 4 && v != 6 {
		return fmt.Errorf("layersglue: IP version nibble %d, want 4 or 6", v)
	}
	r.Version = v
	r.Contents = data[:0]
	r.Payload = data
	return nil
}

// decodeRawIP decodes an ip-mode frame as gopacket's LinkTypeRaw decoder
// does (straight to IPv4 or IPv6), but with the empty frame checked.
func decodeRawIP(data []byte, p gopacket.PacketBuilder) error {
	if len(data) == 0 {
		return errEmptyIP
	}
	// Not p.NextDecoder: that decodes the payload of the last layer, and
	// there is none yet.
	switch data[0] >> 4 {
	case 4:
		return layers.LayerTypeIPv4.Decode(data, p)
	case 6:
		return layers.LayerTypeIPv6.Decode(data, p)
	}
	return fmt.Errorf("layersglue: IP version nibble %d, want 4 or 6", data[0]>>4)
}

// decodeRawIPLayer is LayerTypeRawIP's decoder, for gopacket.NewPacket(data,
// LayerTypeRawIP, ...): a RawIP layer, then IPv4 or IPv6.
func decodeRawIPLayer(data []byte, p gopacket.PacketBuilder) error {
	r := &RawIP{}
	if err := r.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(r)
	return p.NextDecoder(r.NextLayerType())
}
