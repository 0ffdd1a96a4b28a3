package main

import (
	"fmt"
	"time"

	"github.com/memifpcap/memifpcap/capfile"
)

// Capture files are read by package capfile, which checks every length a
// file claims before allocating for it; this file adapts its packets to
// the replay's and adds memifinject's own limit, the memif ring's.

// packet is one record of a capture file, as the replay sends it.
type packet struct {
	data     []byte // the captured bytes; valid until the next read
	ts       time.Time
	length   int    // original length on the wire, ≥ len(data)
	linkType uint32 // of the interface it was captured on
	num      int    // 1-based record number within its file
	queue    int    // the queue it was recorded on (pcapng epb_queue), -1 unknown
	dir      capfile.Direction
}

// fromCapfile fills p from a capfile packet. A frame that ends in an FCS
// (the pcap header says so) is sent without it: memif carries frames as
// the stack hands them over, without a frame check sequence.
func (p *packet) fromCapfile(c *capfile.Packet) {
	data, length := c.Data, c.Length
	if c.FCSLen > 0 {
		data = data[:len(data)-c.FCSLen]
		length = max(length-c.FCSLen, len(data))
	}
	*p = packet{data: data, ts: c.Timestamp, length: length, linkType: c.LinkType, num: c.Number, queue: c.Queue, dir: c.Direction}
}

// inputError is a fault in an input file that is not the reader's: not
// sendable on this memif link, or not there. (The reader's are
// *capfile.Error.) packet is the 1-based record number it concerns, 0 for
// the file as a whole.
type inputError struct {
	file   string
	packet int
	msg    string
}

func (e *inputError) Error() string {
	if e.packet > 0 {
		return fmt.Sprintf("%s: packet %d: %s", e.file, e.packet, e.msg)
	}
	return fmt.Sprintf("%s: %s", e.file, e.msg)
}

// ringLimit is the largest frame a memif ring can carry: one frame takes
// one descriptor (and one buffer) per bufSize bytes, and a chain cannot be
// longer than the ring.
type ringLimit struct{ slots, bufSize int }

// check returns why a frame of n bytes cannot be sent, or "".
func (l ringLimit) check(n uint64) string {
	if l.slots <= 0 || l.bufSize <= 0 {
		return ""
	}
	need := (n + uint64(l.bufSize) - 1) / uint64(l.bufSize)
	if need <= uint64(l.slots) {
		return ""
	}
	return fmt.Sprintf("a %d-byte frame is larger than the memif ring can carry: it needs %d buffers of %d bytes and the ring has %d slots (-ring-size %d, -buffer-size %d)",
		n, need, l.bufSize, l.slots, l.slots, l.bufSize)
}
