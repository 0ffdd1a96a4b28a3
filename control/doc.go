// Package control implements the memif control protocol, version 2.0: the
// 128-byte messages exchanged over an AF_UNIX SOCK_SEQPACKET socket (with one
// file descriptor per message passed as SCM_RIGHTS), the socket addresses
// memif peers use, and the client and server handshakes.
//
// It knows nothing about packets and must never import gopacket; the shared
// memory a handshake describes is the business of package ring.
package control
