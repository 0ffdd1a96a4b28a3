// Package ring implements memif's shared memory: memfd regions, the ring
// header and 16-byte descriptor layout, the producer and consumer of each
// ring direction in both roles (client and server), chained descriptors and
// the eventfd interrupts.
//
// # Roles and directions
//
// The client (libmemif/VPP "slave") creates every region, ring and eventfd
// and always writes head; the server ("master") maps what the client sent and
// always writes tail. A C2S ring (libmemif S2M) carries packets from client
// to server: the client produces and publishes head, the server consumes and
// publishes tail. An S2C ring (M2S) carries packets the other way: the client
// offers empty buffers by publishing head (refill), the server fills them and
// publishes tail, and the client consumes up to tail. Tx is the producer of a
// ring, Rx its consumer, for either role; both keep private free-running u16
// cursors and touch the shared indices once per batch.
//
// # Atomics
//
// Go has no 16-bit atomics. head shares the u32 word at offset 4 with the
// ring flags, which the ring's consumer writes, so head and flags are each
// updated with a compare-and-swap on that word that preserves the other
// half. tail is alone in the u32 word at offset cacheLine and is loaded and
// stored whole. Go's atomics are sequentially consistent, stronger than the
// acquire/release the C peers use.
//
// # Hostile input
//
// Everything read from shared memory is written by the peer and is treated as
// hostile input: indices, descriptors, offsets and lengths are read once,
// bounds-checked in 64-bit arithmetic before a byte is touched, and a client
// never follows the region/offset a server leaves in a descriptor. Per-packet
// paths (Tx.Write, Tx.Reserve, Tx.Commit, Tx.Publish, Rx.Next, Rx.Release,
// EventFD.Signal) do not allocate.
//
// The package must never import gopacket or package control.
package ring
