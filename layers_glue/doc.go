// Package layersglue connects memif's three interface modes to gopacket:
// the link type each mode has in gopacket and in capture files, a decoder
// for each, and the SerializeBuffer that lets gopacket.SerializeLayers build
// a frame in place in a memif transmit slot.
//
// The directory is layers_glue, after the project's layout, but the package
// is layersglue: Go package names have no underscores (Effective Go,
// "Package names"; golint and staticcheck's ST1003 flag them), so the
// import path and the name in code differ, as for gopkg.in/yaml.v3.
//
// # Modes and link types
//
// memif's INIT message says what the frames on a link are; gopacket needs a
// layers.LinkType (a uint8 in gopacket v1.1.19) to decode them, and a pcap
// file needs a LINKTYPE_ value:
//
//	memif mode   gopacket / pcap link type          first layer
//	ethernet     layers.LinkTypeEthernet (1)         Ethernet
//	ip           layers.LinkTypeRaw (101)            IPv4 or IPv6, by the version nibble
//	punt/inject  LinkTypeMemifPuntInject (147,       MemifPuntInject (opaque frame)
//	             LINKTYPE_USER0)
//
// Importing the package registers what gopacket lacks, in the process-wide
// tables of gopacket and gopacket/layers:
//   - layer types LayerTypeMemifPuntInject (1147) and LayerTypeRawIP (1101),
//     in the 1000-1999 range gopacket leaves to applications;
//     gopacket.RegisterLayerType panics if another package took either
//     number first;
//   - layers.LinkTypeMetadata[147], so that gopacket.NewPacketSource(r,
//     r.LinkType()) over a pcapgo reader decodes the punt/inject captures
//     memifdump writes. LINKTYPE_USER0..15 are private by definition: a
//     program that gives USER0 another meaning must not import this
//     package;
//   - layers.LinkTypeMetadata[LinkTypeRaw]: the same IPv4-or-IPv6 decoder
//     gopacket has, except that an empty frame is a decode error instead of
//     an index-out-of-range panic (which gopacket recovers from, unless
//     DecodeOptions.SkipDecodeRecovery is set); a memif peer can send an
//     empty frame.
//
// # Zero-copy transmit
//
// SlotBuffer is a gopacket.SerializeBuffer over a fixed window of memory,
// a memif transmit slot, with headroom in front so that PrependBytes (which
// SerializeLayers calls from the innermost layer outwards) writes in place,
// and tailroom behind for AppendBytes (Ethernet pads short frames by
// appending). A frame that outgrows the window continues in a staging buffer
// the SlotBuffer owns and reuses. memifpcap.FrameWriter reserves the slot,
// lends it to a SlotBuffer and turns the result into a descriptor.
//
// This package must never import memifpcap (memifpcap imports it, for the
// mode mapping and so that the decoders are registered whenever a Handle
// exists), nor make package ring or control depend on gopacket.
package layersglue
