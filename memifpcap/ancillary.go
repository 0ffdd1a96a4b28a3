package memifpcap

// AncillaryQueue is the memif queue a frame was read from, found in
// CaptureInfo.AncillaryData of every read, as afpacket reports
// AncillaryVLAN. Queue is the index of the receive ring (the ADD_RING
// index): RxQueue.ID of the queue read, 0 for the Handle's own reads. To
// find it:
//
//	for _, a := range ci.AncillaryData {
//		if q, ok := a.(memifpcap.AncillaryQueue); ok {
//			... q.Queue ...
//		}
//	}
//
// The zero-copy reads (ZeroCopyReadPacketData, ReadPacketDataTo) return
// the Handle's own AncillaryData slice, overwritten by the next read, so
// that reading allocates nothing; ReadPacketData returns a new slice.
type AncillaryQueue struct {
	Queue int
}

// AncillaryMetadata is the metadata word of the first descriptor of a
// frame, found in CaptureInfo.AncillaryData of every read after
// AncillaryQueue. memif gives the word no meaning and DPDK, VPP and
// libmemif leave it 0; it is passed through for peers that agree on one.
// The boxed value is reused while the word stays the same, so a read
// allocates only when a peer changes it.
type AncillaryMetadata struct {
	Metadata uint32
}
