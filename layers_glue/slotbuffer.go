package layersglue

import (
	"fmt"

	"github.com/google/gopacket"
)

// DefaultTailroom is the room a SlotBuffer leaves behind an empty frame for
// AppendBytes: more than the 46 bytes gopacket's Ethernet layer appends to
// pad a short frame to 60, which it does after every header was prepended.
// Everything else in the slot is headroom for PrependBytes.
const DefaultTailroom = 64

// appendHeadroom is the room kept in front of a frame that appends pushed
// back within its window: enough for the headers a later PrependBytes is
// likely to add (Ethernet, 802.1Q, IPv6, TCP with options).
const appendHeadroom = 128

// maxFrame bounds a frame. memif cannot carry more than 16384 descriptors of
// 65535 bytes, just under 1 GiB; the bound keeps a wild PrependBytes or
// AppendBytes an error instead of an allocation panic.
const maxFrame = 1 << 30

// SlotBuffer is a gopacket.SerializeBuffer that builds a frame in place in a
// fixed window of memory, the slot (a memif transmit buffer in shared
// memory), as long as the frame fits it. The zero value is an empty buffer
// without a slot, which works like gopacket's own buffer.
//
// An empty frame starts DefaultTailroom bytes before the end of the slot,
// so PrependBytes, which gopacket.SerializeLayers calls from the innermost
// layer outwards, fills the slot from the back, and AppendBytes has room
// for Ethernet padding. When a call finds no room on its side but the frame
// still fits the slot, the frame is moved inside the slot (a memmove of
// what was written so far); when it no longer fits, it moves to a staging
// buffer the SlotBuffer owns and keeps for later frames, so that steady
// traffic does not allocate. InSlot and Offset say where the frame ended
// up.
//
// Slices returned by PrependBytes, AppendBytes and Bytes are valid until
// the next call that changes the buffer (PrependBytes, AppendBytes, Clear,
// SetSlot, Reset). A SlotBuffer is not safe for concurrent use.
type SlotBuffer struct {
	slot   []byte
	spill  []byte // staging, used at its full capacity
	inSlot bool   // the frame is in slot, not in spill
	// start and end delimit the frame in the current window (slot or
	// spill).
	start, end int
	layers     []gopacket.LayerType
}

var _ gopacket.SerializeBuffer = (*SlotBuffer)(nil)

// SetSlot makes slot the buffer's window and empties the frame; the layer
// list is kept. A nil slot leaves only the staging buffer.
func (b *SlotBuffer) SetSlot(slot []byte) {
	b.slot = slot
	b.inSlot = slot != nil
	b.empty()
}

// Slot returns the window SetSlot set.
func (b *SlotBuffer) Slot() []byte { return b.slot }

// Reset forgets the slot, empties the frame and the layer list, and keeps
// the staging buffer for later frames.
func (b *SlotBuffer) Reset() {
	b.slot = nil
	b.inSlot = false
	b.empty()
	b.layers = b.layers[:0]
}

// InSlot reports whether the frame lies in the slot: Bytes() is
// Slot()[Offset():Offset()+Len()]. It is false once the frame outgrew the
// slot, until Clear.
func (b *SlotBuffer) InSlot() bool { return b.inSlot }

// Offset is where the frame starts in its window: in the slot when InSlot.
func (b *SlotBuffer) Offset() int { return b.start }

// Len is the length of the frame.
func (b *SlotBuffer) Len() int { return b.end - b.start }

// Bytes returns the frame.
func (b *SlotBuffer) Bytes() []byte {
	return b.win()[b.start:b.end:b.end]
}

// PrependBytes returns num bytes in front of the frame, now part of it.
// Their contents are undefined until the caller writes them.
func (b *SlotBuffer) PrependBytes(num int) ([]byte, error) {
	if num < 0 {
		return nil, fmt.Errorf("layersglue: PrependBytes(%d): negative length", num)
	}
	if b.start < num {
		if err := b.room(num, true); err != nil {
			return nil, err
		}
	}
	b.start -= num
	return b.win()[b.start : b.start+num : b.start+num], nil
}

// AppendBytes returns num bytes behind the frame, now part of it. Their
// contents are undefined until the caller writes them.
func (b *SlotBuffer) AppendBytes(num int) ([]byte, error) {
	if num < 0 {
		return nil, fmt.Errorf("layersglue: AppendBytes(%d): negative length", num)
	}
	if len(b.win())-b.end < num {
		if err := b.room(num, false); err != nil {
			return nil, err
		}
	}
	b.end += num
	return b.win()[b.end-num : b.end : b.end], nil
}

// Clear empties the frame and the layer list and moves back into the slot,
// if there is one. It never fails.
func (b *SlotBuffer) Clear() error {
	b.layers = b.layers[:0]
	b.inSlot = b.slot != nil
	b.empty()
	return nil
}

// Layers returns the layers serialized into the buffer since Clear.
func (b *SlotBuffer) Layers() []gopacket.LayerType { return b.layers }

// PushLayer records a serialized layer.
func (b *SlotBuffer) PushLayer(t gopacket.LayerType) { b.layers = append(b.layers, t) }

func (b *SlotBuffer) win() []byte {
	if b.inSlot {
		return b.slot
	}
	return b.spill
}

// empty places an empty frame DefaultTailroom bytes before the end of the
// window (or at its start, in a window smaller than that).
func (b *SlotBuffer) empty() {
	w := b.win()
	b.start = len(w) - min(DefaultTailroom, len(w))
	b.end = b.start
}

// room moves the frame so that num more bytes fit in front of it (prepend)
// or behind it: within its window when the frame still fits, else into the
// staging buffer, which grows (doubling) when it is too small.
func (b *SlotBuffer) room(num int, prepend bool) error {
	size := b.end - b.start
	if num > maxFrame-size {
		return fmt.Errorf("layersglue: a frame of %d bytes plus %d would exceed %d bytes", size, num, maxFrame)
	}
	need := size + num
	src := b.win()
	dst := src
	if need > len(src) {
		// Out of the slot, or out of a staging buffer too small: a
		// staging buffer kept from an earlier frame is reused when the
		// frame fits it.
		if !b.inSlot || need > cap(b.spill) {
			b.spill = make([]byte, max(need+DefaultTailroom+appendHeadroom, 2*cap(b.spill)))
		}
		b.spill = b.spill[:cap(b.spill)]
		dst = b.spill
		b.inSlot = false
	}
	var at int
	if prepend {
		at = len(dst) - min(DefaultTailroom, len(dst)-need) - size
	} else {
		at = min(appendHeadroom, len(dst)-need)
	}
	copy(dst[at:at+size], src[b.start:b.end])
	b.start, b.end = at, at+size
	return nil
}
