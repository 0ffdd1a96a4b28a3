// Package ring implements memif's shared memory: memfd regions, the ring
// header and 16-byte descriptor layout, the producer and consumer of each
// ring direction in both roles (client and server), chained descriptors and
// the eventfd interrupts.
//
// Everything read from shared memory is written by the peer and is treated as
// hostile input: indices, descriptors, offsets and lengths are bounds-checked
// before a byte is touched. The package must never import gopacket.
package ring
