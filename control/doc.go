// Package control implements the memif control protocol, version 2.0: the
// 128-byte messages exchanged over an AF_UNIX SOCK_SEQPACKET socket (with one
// file descriptor per message passed as SCM_RIGHTS), the socket addresses
// memif peers use, and the client and server handshakes.
//
// The pieces, bottom up: Marshal and Unmarshal encode the messages; Addr
// names a socket (a path, or an abstract "@name"); Conn is one control
// channel through Go's runtime poller (Dial, or a Listener's Accept);
// ClientHandshake and Server run the lock-step exchange that ends with the
// shared memory described to the server (an Offer). Roles use today's DPDK
// names, client and server (libmemif and VPP say slave and master), and rings
// are C2S (client to server, S2M) or S2C (server to client, M2S).
//
// Everything received from a peer is treated as hostile: sizes, types and
// field ranges are checked, and any file descriptor that arrives where it
// does not belong is closed. The transport and handshakes are Linux-only;
// the message and address code builds everywhere.
//
// It knows nothing about packets and must never import gopacket; the shared
// memory a handshake describes is the business of package ring.
package control
