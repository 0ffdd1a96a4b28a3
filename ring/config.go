package ring

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Role is the side of the connection this process plays. The client
// (libmemif/VPP "slave") creates the regions and rings and always writes
// head; the server ("master") maps what the client sent and always writes
// tail.
type Role uint8

const (
	// Client creates the shared memory and the interrupts and writes
	// head: it produces on C2S rings and consumes on S2C rings.
	Client Role = iota
	// Server maps what the client sent and writes tail: it consumes on
	// C2S rings and produces on S2C rings.
	Server
)

// String returns "client", "server" or "Role(n)".
func (r Role) String() string {
	switch r {
	case Client:
		return "client"
	case Server:
		return "server"
	default:
		return "Role(" + strconv.Itoa(int(r)) + ")"
	}
}

// Config describes what a producer (Tx) or consumer (Rx) may touch besides
// its ring.
type Config struct {
	Role Role

	// Regions are the mapped regions, indexed by region number. A server
	// passes every region the client sent, since descriptors may point into
	// any of them (a VPP client in zero-copy mode uses one region per buffer
	// pool). A client passes its own regions; it only ever uses region 0.
	Regions [][]byte

	// BufferSize is, for a client, the size of each of its buffers (the
	// capacity it offers and the most a server may report). For a server it
	// is the largest descriptor length it accepts, 0 meaning any length that
	// fits its region.
	BufferSize uint32

	// BufferBase is, for a client only, the offset in region 0 of the
	// buffer of this ring's slot 0 (Layout.BufferOffset(d, i, 0)); slot s
	// uses BufferBase + s*BufferSize. A server must leave it 0: it follows
	// the client's descriptors instead.
	BufferBase uint32
}

// check validates cfg for use with r.
func (cfg *Config) check(r *Ring) error {
	if r == nil {
		return errors.New("nil ring")
	}
	n := uint64(r.Size())
	switch cfg.Role {
	case Client:
		if len(cfg.Regions) == 0 {
			return errors.New("client config has no regions: its buffers live in region 0")
		}
		if cfg.BufferSize == 0 {
			return errors.New("client config has buffer size 0")
		}
		last := uint64(cfg.BufferBase) + (n-1)*uint64(cfg.BufferSize)
		if last > math.MaxUint32 {
			return fmt.Errorf("client buffers at base %d, %d slots of %d bytes: offset %d of the last slot does not fit a descriptor's u32",
				cfg.BufferBase, n, cfg.BufferSize, last)
		}
		end := last + uint64(cfg.BufferSize)
		if size := uint64(len(cfg.Regions[0])); end > size {
			return fmt.Errorf("client buffers at base %d, %d slots of %d bytes, end at %d, past the end of region 0 (%d bytes)",
				cfg.BufferBase, n, cfg.BufferSize, end, size)
		}
	case Server:
		if cfg.BufferBase != 0 {
			return fmt.Errorf("server config has buffer base %d: only a client lays out buffers, a server follows the descriptors", cfg.BufferBase)
		}
	default:
		return fmt.Errorf("invalid role %v", cfg.Role)
	}
	return nil
}

// checkPeer validates an index the peer published. base is the lowest value
// the protocol allows given what we published ourselves, cached the value we
// saw last (base <= cached <= base+n, modulo 2^16), loaded the new one. The
// peer may only move its index forward, and never past base+n: a head more
// than N ahead of tail, or a tail beyond head, would make us read or
// overwrite slots we do not own.
func checkPeer(name string, base, cached, loaded, n uint16) error {
	adv, was := loaded-base, cached-base
	if adv < was || adv > n {
		return &CorruptError{Reason: fmt.Sprintf("peer moved %s from %d to %d; the ring of %d slots allows %d..%d",
			name, cached, loaded, n, cached, base+n)}
	}
	return nil
}

// side is what a producer (Tx) and a consumer (Rx) of one ring both know:
// the ring, the memory its descriptors point into, and this end's role.
type side struct {
	ring    *Ring
	regions [][]byte
	client  bool
	n       uint16 // slots in the ring
	mask    uint16
	bufSize uint32
	bufBase uint32
}

func newSide(r *Ring, cfg Config) (side, error) {
	if err := cfg.check(r); err != nil {
		return side{}, err
	}
	return side{
		ring:    r,
		regions: cfg.Regions,
		client:  cfg.Role == Client,
		n:       uint16(r.Size()),
		mask:    r.mask,
		bufSize: cfg.BufferSize,
		bufBase: cfg.BufferBase,
	}, nil
}

// slotOffset is where the client's own buffer for idx's slot starts in
// region 0. Config.check proved every such buffer lies in region 0 at an
// offset that fits a descriptor's u32.
func (s *side) slotOffset(idx uint16) uint32 {
	return s.bufBase + uint32(idx&s.mask)*s.bufSize
}

// peerBuffer checks that a buffer the peer named lies inside our mapping
// of its region (64-bit math, so offset+length cannot wrap) and returns it,
// or one of the reasons below.
func (s *side) peerBuffer(region uint16, offset, length uint32) ([]byte, string) {
	if int(region) >= len(s.regions) {
		return nil, reasonRegion
	}
	r := s.regions[region]
	end := uint64(offset) + uint64(length)
	if end > uint64(len(r)) {
		return nil, reasonBounds
	}
	return r[offset:end:end], ""
}
