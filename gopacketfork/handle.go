package gopacketfork

import (
	"context"

	googlegopacket "github.com/google/gopacket"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// The fork's interfaces, checked at compile time.
var (
	_ gopacket.PacketDataSource         = (*Handle)(nil)
	_ gopacket.ZeroCopyPacketDataSource = (*Handle)(nil)
	_ gopacket.PacketSourceResolution   = (*Handle)(nil)
	_ gopacket.PacketDataSource         = (*RxQueue)(nil)
	_ gopacket.ZeroCopyPacketDataSource = (*RxQueue)(nil)
)

// CaptureInfo converts a CaptureInfo of google/gopacket (memifpcap's) to
// the fork's. The two structs are the same field for field, so this is a
// type conversion: AncillaryData is the same slice, nothing is allocated.
func CaptureInfo(ci googlegopacket.CaptureInfo) gopacket.CaptureInfo {
	return gopacket.CaptureInfo(ci)
}

// Handle is a memifpcap.Handle for the fork: the fork's
// PacketDataSource, ZeroCopyPacketDataSource and PacketSourceResolution.
// The methods it does not replace are memifpcap's; h.Handle.ReadBatch and
// the like reach memifpcap's own versions of the replaced ones.
type Handle struct {
	*memifpcap.Handle
	rxq   []*RxQueue
	batch batcher
}

// RxQueue is a memifpcap.RxQueue for the fork, as Handle is a Handle.
type RxQueue struct {
	*memifpcap.RxQueue
	batch batcher
}

// Open opens a memif interface (see memifpcap.Open) and wraps it.
func Open(cfg *memifpcap.Config) (*Handle, error) {
	return OpenContext(context.Background(), cfg)
}

// OpenContext is memifpcap.OpenContext, wrapped.
func OpenContext(ctx context.Context, cfg *memifpcap.Config) (*Handle, error) {
	h, err := memifpcap.OpenContext(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return Wrap(h), nil
}

// Wrap makes a Handle of h. h stays usable directly, but read either
// through the wrapper or through h, as memifpcap says for reading through
// the Handle or its queues: not both at once. Closing either closes h.
func Wrap(h *memifpcap.Handle) *Handle {
	w := &Handle{Handle: h, rxq: make([]*RxQueue, h.NumRxQueues())}
	for i := range w.rxq {
		w.rxq[i] = &RxQueue{RxQueue: h.RxQueue(i)}
	}
	return w
}

// RxQueue returns receive queue i, 0 <= i < NumRxQueues, or nil when i is
// out of range; see memifpcap.Handle.RxQueue. It returns the same RxQueue
// for i every time.
func (h *Handle) RxQueue(i int) *RxQueue {
	if i < 0 || i >= len(h.rxq) {
		return nil
	}
	return h.rxq[i]
}

// LinkType is memifpcap.Handle.LinkType as the fork's layers.LinkType (the
// same number): so gopacket.NewPacketSource(h, h.LinkType()) decodes every
// memif mode with the fork's layers.
func (h *Handle) LinkType() layers.LinkType {
	return layers.LinkType(h.Handle.LinkType())
}

// Resolution is memifpcap.Handle.Resolution as the fork's type.
func (h *Handle) Resolution() gopacket.TimestampResolution {
	r := h.Handle.Resolution()
	return gopacket.TimestampResolution{Base: r.Base, Exponent: r.Exponent}
}

// ReadPacketData is memifpcap.Handle.ReadPacketData with the fork's
// CaptureInfo.
func (h *Handle) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := h.Handle.ReadPacketData()
	return data, gopacket.CaptureInfo(ci), err
}

// ZeroCopyReadPacketData is memifpcap.Handle.ZeroCopyReadPacketData with
// the fork's CaptureInfo; it does not allocate either, and its
// AncillaryData is the Handle's own slice, overwritten by the next read.
func (h *Handle) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := h.Handle.ZeroCopyReadPacketData()
	return data, gopacket.CaptureInfo(ci), err
}

// ReadPacketDataTo is memifpcap.Handle.ReadPacketDataTo with the fork's
// CaptureInfo; it does not allocate either.
func (h *Handle) ReadPacketDataTo(b []byte) (gopacket.CaptureInfo, error) {
	ci, err := h.Handle.ReadPacketDataTo(b)
	return gopacket.CaptureInfo(ci), err
}

// ReadPacketData is memifpcap.RxQueue.ReadPacketData with the fork's
// CaptureInfo.
func (q *RxQueue) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := q.RxQueue.ReadPacketData()
	return data, gopacket.CaptureInfo(ci), err
}

// ZeroCopyReadPacketData is memifpcap.RxQueue.ZeroCopyReadPacketData with
// the fork's CaptureInfo; it does not allocate either.
func (q *RxQueue) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := q.RxQueue.ZeroCopyReadPacketData()
	return data, gopacket.CaptureInfo(ci), err
}

// ReadPacketDataTo is memifpcap.RxQueue.ReadPacketDataTo with the fork's
// CaptureInfo; it does not allocate either.
func (q *RxQueue) ReadPacketDataTo(b []byte) (gopacket.CaptureInfo, error) {
	ci, err := q.RxQueue.ReadPacketDataTo(b)
	return gopacket.CaptureInfo(ci), err
}
