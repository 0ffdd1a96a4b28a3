package main

import "encoding/binary"

// flowHash hashes a frame's flow; modulo the number of transmit queues it
// picks the frame's queue, so that one flow stays in order on one queue
// (what RSS does on a NIC, and what a multi-queue memif peer expects): the
// IPv4 or IPv6
// source and destination addresses, plus the TCP, UDP or SCTP ports when
// the packet is not a later fragment, else the Ethernet addresses. ether
// says whether the frame starts with an Ethernet header (802.1Q and
// 802.1ad tags skipped) or with the IP header (-mode ip, -strip-l2). The
// hash is symmetric: both directions of a flow get the same queue. Any
// input, however short or odd, gets a queue; nothing allocates.
func flowHash(frame []byte, ether bool) uint32 {
	return mix(hashFlow(frame, ether))
}

// mix is murmur3's finalizer: FNV's low bits, which pick the queue, vary
// little with the last bytes hashed (flows that differ only in a port
// would share a queue).
func mix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

func hashFlow(frame []byte, ether bool) uint32 {
	ip := frame
	if ether {
		if len(frame) < 14 {
			return fnv(fnvBasis, frame)
		}
		macs := frame[:12]
		if t, off, ok := l3(frame); ok && (t == etherTypeIPv4 || t == etherTypeIPv6) {
			if h, ok := ipHash(frame[off:]); ok {
				return h
			}
		}
		return symmetric(macs[:6], macs[6:12], fnvBasis)
	}
	if h, ok := ipHash(ip); ok {
		return h
	}
	return fnv(fnvBasis, frame[:min(len(frame), 20)])
}

// ipHash hashes an IPv4 or IPv6 packet's addresses and, for the first or
// only fragment of TCP, UDP or SCTP, its ports. ok is false when the
// packet is too short for its addresses.
func ipHash(ip []byte) (uint32, bool) {
	if len(ip) < 1 {
		return 0, false
	}
	var src, dst, l4 []byte
	var proto byte
	switch ip[0] >> 4 {
	case 4:
		ihl := int(ip[0]&0x0f) * 4
		if len(ip) < 20 || ihl < 20 {
			return 0, false
		}
		src, dst, proto = ip[12:16], ip[16:20], ip[9]
		// A later fragment carries no ports: hash it, and the first, by
		// the addresses alone so the whole packet stays on one queue.
		frag := binary.BigEndian.Uint16(ip[6:8])
		if frag&0x3fff == 0 && len(ip) >= ihl {
			l4 = ip[ihl:]
		}
	case 6:
		if len(ip) < 40 {
			return 0, false
		}
		// Extension headers are not followed: a packet with one is
		// hashed by its addresses.
		src, dst, proto, l4 = ip[8:24], ip[24:40], ip[6], ip[40:]
	default:
		return 0, false
	}
	h := symmetric(src, dst, fnvBasis)
	switch proto {
	case 6, 17, 132: // TCP, UDP, SCTP: ports first
		if len(l4) >= 4 {
			h = fnv(h, []byte{proto})
			h = symmetric(l4[0:2], l4[2:4], h)
		}
	}
	return h, true
}

// symmetric hashes a and b in an order that does not depend on which is
// which.
func symmetric(a, b []byte, h uint32) uint32 {
	if string(a) > string(b) {
		a, b = b, a
	}
	return fnv(fnv(h, a), b)
}

const fnvBasis = 2166136261

// fnv is FNV-1a over b, from h.
func fnv(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
