// Package gopacketfork adapts memifpcap to github.com/gopacket/gopacket,
// the maintained fork of google/gopacket. memifpcap is built on
// google/gopacket v1.1.19, whose CaptureInfo and layers.LinkType are not the
// fork's types, so a memifpcap.Handle is not a PacketDataSource of the
// fork. A Handle of this package is:
//
//	h, err := gopacketfork.Open(&memifpcap.Config{Socket: "/run/vpp/memif.sock"})
//	if err != nil { ... }
//	defer h.Close()
//	for p := range gopacket.NewPacketSource(h, h.LinkType()).Packets() { ... }
//
// with gopacket the fork's package. Handle and RxQueue embed memifpcap's
// own and replace only the methods whose types differ: ReadPacketData,
// ZeroCopyReadPacketData and ReadPacketDataTo return the fork's
// CaptureInfo (so both are the fork's PacketDataSource and
// ZeroCopyPacketDataSource, for NewPacketSource and
// NewZeroCopyPacketSource); LinkType and Resolution return the fork's
// types; ReadBatch, PollBatch and WriteBatch take this package's Message,
// whose CaptureInfo is the fork's, ready for the fork's pcapgo writers.
// Everything else (WritePacketData for injection, WaitLinkUp, Stats,
// SetFilter, Close, TxQueue, ...) is memifpcap's, promoted.
//
// # CaptureInfo without allocating
//
// The fork's CaptureInfo has the same fields, of the same types, as
// google/gopacket's (Timestamp, CaptureLength, Length, InterfaceIndex,
// AncillaryData []interface{}), so one converts to the other with a Go
// type conversion, CaptureInfo(ci): no copy of the AncillaryData slice,
// no allocation. If a future fork changed the struct, this package would
// stop compiling rather than convert wrongly. So AncillaryData is carried
// over as memifpcap fills it: memifpcap.AncillaryQueue (the receive queue)
// then memifpcap.AncillaryMetadata, the main module's types, found with the
// same type assertion as without the fork. On the zero-copy reads
// (ZeroCopyReadPacketData, ReadPacketDataTo) it is the reader's own slice,
// overwritten by the next read, exactly as memifpcap documents; the fork's
// PacketSource.NextPacket copies it for the Packet it returns unless
// DecodeOptions.NoCopy is set. ReadBatch boxes nothing: a batch's queue
// and metadata word are Message.Queue and Message.Metadata, and its
// CaptureInfo.AncillaryData is nil, as in memifpcap.Message.
//
// # Link types
//
// LinkType returns the fork's layers.LinkType with memifpcap's number:
// Ethernet (1), Raw (101) or LinkTypeMemifPuntInject (147, LINKTYPE_USER0).
// Importing this package registers, in the fork's process-wide tables, the
// layer type LayerTypeMemifPuntInject (1147) and the decoder of link type
// 147, as package layersglue does in google/gopacket's; so the fork's
// NewPacketSource decodes every memif mode, and the fork's pcapgo readers
// decode the punt/inject captures memifdump writes. The numbers are
// layersglue's, converted (package layersglue does not import the fork).
// Unlike layersglue, this package leaves the fork's decoder of LinkTypeRaw
// (ip mode) alone: the fork already reports an empty frame as a decode
// error, where google/gopacket v1.1.19 indexes past its end and panics.
//
// This package is its own Go module (github.com/memifpcap/memifpcap/gopacketfork),
// so that only programs that use the fork download it.
package gopacketfork
