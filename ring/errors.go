package ring

import (
	"errors"
	"fmt"
)

var (
	// ErrNoPacket is returned by Rx.Next when no complete packet is
	// available yet. It is the normal "try again later" answer, not a
	// failure.
	ErrNoPacket = errors.New("memif ring: no complete packet available")

	// ErrRingFull is returned by Tx.Write when the free slots cannot hold
	// the whole frame; nothing was written. On an S2C ring it also means the
	// client has not offered (refilled) enough buffers yet.
	ErrRingFull = errors.New("memif ring: not enough free slots for the whole frame")

	// ErrFrameTooLarge is returned (wrapped, with the numbers) by Tx.Write
	// for a frame that needs more descriptors than the ring has slots, so it
	// could never be sent.
	ErrFrameTooLarge = errors.New("memif ring: frame needs more descriptors than the ring has slots")

	// ErrEmptyFrame is returned by Tx.Write and Tx.Commit for a
	// zero-length frame.
	ErrEmptyFrame = errors.New("memif ring: empty frame")

	// ErrBadCommit is returned (wrapped, with the numbers) by Tx.Commit
	// without an outstanding reservation, or for data outside the reserved
	// buffer.
	ErrBadCommit = errors.New("memif ring: commit does not match a reserved buffer")
)

// DescriptorError reports a descriptor written by the peer that points
// outside the memory it may describe. The descriptor was not used and no
// byte was read or written through it.
type DescriptorError struct {
	Index  uint16 // free-running ring index of the descriptor
	Desc   Desc   // the descriptor as read (once) from shared memory
	Reason string // which check failed
}

func (e *DescriptorError) Error() string {
	return fmt.Sprintf("memif ring: bad descriptor at index %d (region %d, offset %d, length %d, flags %#x): %s",
		e.Index, e.Desc.Region, e.Desc.Offset, e.Desc.Length, e.Desc.Flags, e.Reason)
}

// CorruptError reports a ring whose shared indices the peer moved in a way
// the protocol does not allow (backwards, or beyond the slots it owns).
// Nothing further on the ring can be trusted; the caller should disconnect.
type CorruptError struct {
	Reason string
}

func (e *CorruptError) Error() string {
	return "memif ring: corrupt ring: " + e.Reason
}
