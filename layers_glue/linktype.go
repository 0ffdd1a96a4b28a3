package layersglue

import (
	"strconv"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// LinkTypeMemifPuntInject is the link type of memif punt/inject frames in
// gopacket and in capture files: LINKTYPE_USER0 (147), the first of the
// values tcpdump.org reserves for private use. Nothing standard describes
// punt/inject frames (VPP puts what its punt and inject nodes agree on), so
// files carrying them are only meaningful between memif tools; tcpdump and
// Wireshark show them as "USER0" raw bytes.
const LinkTypeMemifPuntInject layers.LinkType = 147

// The memif interface modes, as INIT carries them (libmemif's
// memif_interface_mode_t, memif.h): memifpcap.Mode's values.
const (
	modeEthernet   = 0
	modeIP         = 1
	modePuntInject = 2
)

// LinkTypeForMode returns the link type of the frames of a memif link in
// mode m (a memifpcap.Mode): layers.LinkTypeEthernet, layers.LinkTypeRaw
// (bare IPv4 or IPv6) or LinkTypeMemifPuntInject. For a value that is not
// a memif mode it returns 0 (LINKTYPE_NULL, which no memif link uses).
// It takes any mode type of memif's values, so that this package need
// not import memifpcap (which imports it).
func LinkTypeForMode[M ~uint8](m M) layers.LinkType {
	switch uint8(m) {
	case modeEthernet:
		return layers.LinkTypeEthernet
	case modeIP:
		return layers.LinkTypeRaw
	case modePuntInject:
		return LinkTypeMemifPuntInject
	}
	return 0
}

// ModeForLinkType returns the memif mode whose link carries frames of link
// type lt, and false if no mode does: layersglue.ModeForLinkType[memifpcap.Mode](lt).
// Besides the three link types LinkTypeForMode returns, it accepts
// LINKTYPE_IPV4 (228) and LINKTYPE_IPV6 (229) for ip mode: their frames
// are bare IP packets too.
func ModeForLinkType[M ~uint8](lt layers.LinkType) (M, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return modeEthernet, true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return modeIP, true
	case LinkTypeMemifPuntInject:
		return modePuntInject, true
	}
	return 0, false
}

// LinkTypeName names a link type the way tcpdump does after "link-type":
// libpcap's DLT name and description, "EN10MB (Ethernet)", "RAW (Raw IP)",
// and "USER0 (memif punt/inject)" for LinkTypeMemifPuntInject. It takes a
// gopacket layers.LinkType or a capture file's 32-bit LINKTYPE_ value
// (pcapng's can pass 255). Other link types are shown as their number and,
// below 256, gopacket's name for them.
func LinkTypeName[T ~uint8 | ~uint16 | ~uint32](lt T) string {
	switch uint32(lt) {
	case uint32(layers.LinkTypeEthernet):
		return "EN10MB (Ethernet)"
	case uint32(layers.LinkTypeRaw):
		return "RAW (Raw IP)"
	case uint32(layers.LinkTypeIPv4):
		return "IPV4 (Raw IPv4)"
	case uint32(layers.LinkTypeIPv6):
		return "IPV6 (Raw IPv6)"
	case uint32(LinkTypeMemifPuntInject):
		return "USER0 (memif punt/inject)"
	case 0:
		return "NULL (BSD loopback)"
	case 105:
		return "IEEE802_11 (802.11)"
	case 113:
		return "LINUX_SLL (Linux cooked v1)"
	case 276:
		return "LINUX_SLL2 (Linux cooked v2)"
	}
	if uint32(lt) > 255 {
		return strconv.FormatUint(uint64(lt), 10)
	}
	return strconv.Itoa(int(lt)) + " (" + layers.LinkType(lt).String() + ")"
}

// ModeCarries reports whether a memif link in mode m carries frames of
// link type lt (a capture file's LINKTYPE_ value): ModeForLinkType's
// answer, for any width of link type.
func ModeCarries[M ~uint8](m M, lt uint32) bool {
	if lt > 255 {
		return false
	}
	got, ok := ModeForLinkType[M](layers.LinkType(lt))
	return ok && got == m
}

// FirstLayerType returns the layer type a gopacket.DecodingLayerParser
// must start from for frames of link type lt, and false if this package
// does not know lt: layers.LayerTypeEthernet, LayerTypeRawIP for
// LinkTypeRaw (a parser cannot start from IPv4 or IPv6 when either may
// come), layers.LayerTypeIPv4 or LayerTypeIPv6 for LINKTYPE_IPV4 and _IPV6,
// and LayerTypeMemifPuntInject. gopacket.NewPacket and PacketSource need no
// such help: they decode from the link type itself.
func FirstLayerType(lt layers.LinkType) (gopacket.LayerType, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, true
	case layers.LinkTypeRaw:
		return LayerTypeRawIP, true
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4, true
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6, true
	case LinkTypeMemifPuntInject:
		return LayerTypeMemifPuntInject, true
	}
	return gopacket.LayerTypeZero, false
}

func init() {
	layers.LinkTypeMetadata[LinkTypeMemifPuntInject] = layers.EnumMetadata{
		DecodeWith: LayerTypeMemifPuntInject,
		Name:       "MemifPuntInject",
		LayerType:  LayerTypeMemifPuntInject,
	}
	// gopacket's own Raw decoder reads data[0] unchecked.
	raw := layers.LinkTypeMetadata[layers.LinkTypeRaw]
	raw.DecodeWith = gopacket.DecodeFunc(decodeRawIP)
	layers.LinkTypeMetadata[layers.LinkTypeRaw] = raw
}
