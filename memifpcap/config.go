package memifpcap

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/ring"
)

// Defaults applied to the zero value of each Config field.
const (
	// DefaultSocket is VPP's and libmemif's default control socket, a file.
	// DPDK's default is different: the abstract name "@/run/memif.sock".
	DefaultSocket            = "/run/vpp/memif.sock"
	DefaultRingSize          = 1024
	DefaultBufferSize        = 2048
	DefaultSnapLen           = 262144
	DefaultWriteTimeout      = time.Second
	DefaultHandshakeTimeout  = 5 * time.Second
	DefaultReconnectInterval = 2 * time.Second
	DefaultCloseLinger       = time.Second
	DefaultName              = "memifpcap"
	// MaxQueues is the most queues per direction: HELLO's ring indices
	// are a u16, but DPDK and VPP cap a queue id at 255.
	MaxQueues = 255
)

// Role is the memif role of a Handle. The zero value is RoleClient.
type Role int

const (
	// RoleClient connects to a server's socket and creates all shared
	// memory (libmemif and VPP call it "slave").
	RoleClient Role = iota
	// RoleServer listens on the socket and maps the memory its client
	// offers (libmemif and VPP call it "master").
	RoleServer
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole parses "client" or "server" (and the old names "slave" and
// "master" that VPP and libmemif still use).
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "client", "slave":
		return RoleClient, nil
	case "server", "master":
		return RoleServer, nil
	}
	return 0, fmt.Errorf("memif: unknown role %q (want client or server)", s)
}

// Mode is the interface mode sent in INIT: what the frames on the link are.
// The zero value is ModeEthernet. Its values are the wire's (libmemif's
// memif_interface_mode_t, memif.h).
type Mode uint8

// Interface modes.
const (
	ModeEthernet   Mode = Mode(control.ModeEthernet)
	ModeIP         Mode = Mode(control.ModeIP)
	ModePuntInject Mode = Mode(control.ModePuntInject)
)

// String returns "ethernet", "ip" or "punt-inject" (ParseMode's names).
func (m Mode) String() string { return control.Mode(m).String() }

// ParseMode parses "ethernet", "ip" or "punt-inject".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "ethernet", "eth":
		return ModeEthernet, nil
	case "ip":
		return ModeIP, nil
	case "punt-inject", "punt/inject", "punt":
		return ModePuntInject, nil
	}
	return 0, fmt.Errorf("memif: unknown mode %q (want ethernet, ip or punt-inject)", s)
}

// Config configures a Handle. A nil *Config, and every zero field, means
// the documented default.
type Config struct {
	// Role is RoleClient (default) or RoleServer.
	Role Role
	// Socket is the control socket: a filesystem path, or "@name" (or
	// VPP's "abstract:name") for the abstract namespace. Default
	// DefaultSocket. Several server Handles with distinct IDs may share one
	// socket within a process.
	Socket string
	// Netns, if set, is the network namespace the control socket is
	// created (server) or dialled (client) in, the rest of the process
	// staying in its own: a name from `ip netns add` (/var/run/netns/NAME),
	// a namespace file such as a pod's /proc/PID/ns/net, or "pid:PID".
	// Abstract sockets belong to a network namespace, so this is how a
	// pod's abstract memif socket is reached from outside the pod. Socket
	// may carry it instead, as VPP's ",netns_name=" or ",netns_pid="
	// option; given both, they must agree. Joining a namespace needs
	// CAP_SYS_ADMIN.
	Netns string
	// SocketOwner, SocketGroup and SocketPerm, when not 0, become a
	// server's socket file's owner and group (uid, gid: giving it away
	// needs CAP_CHOWN) and permission bits (such as 0660), as DPDK's
	// owner-uid= and owner-gid= do, so that an unprivileged application
	// can connect to a socket a root process serves. 0 keeps what the
	// process gives the file (its own user and group, 0777 less the
	// umask). They apply to a filesystem socket only, and are taken from
	// the first Handle that opens the socket (others on the same socket
	// share it as it is).
	SocketOwner, SocketGroup int
	SocketPerm               fs.FileMode
	// ID is the memif interface id; the server matches it against INIT.
	ID uint32
	// Secret, if set, must match the peer's (at most 23 bytes). A server
	// with a secret refuses clients without one; a server without a secret
	// accepts any client, as DPDK and VPP do.
	Secret string
	// Mode is the interface mode. Default ModeEthernet.
	Mode Mode
	// RingSize is the number of slots per ring, a power of two from 2 to
	// 16384. Default 1024. A client lowers it to what the server's HELLO
	// allows.
	RingSize int
	// BufferSize is the size of each packet buffer a client creates, 1 to
	// 65535. Default 2048. Frames larger than a buffer travel as chains.
	// memif does not negotiate it; against a DPDK server keep it equal to
	// DPDK's bsize.
	BufferSize int
	// SnapLen is the most bytes of a frame returned by reads; longer frames
	// are truncated with CaptureInfo.Length still the full length. Default
	// DefaultSnapLen, as tcpdump.
	SnapLen int
	// BatchTimestamps gives every frame the one clock reading of the look
	// at the peer's index that revealed it (for ReadBatch and PollBatch,
	// usually the batch's), as memifpcap did before frames were stamped
	// one by one (see Message.CaptureInfo): it saves a few nanoseconds per
	// frame, for receivers that ignore the time (memifperf).
	BatchTimestamps bool
	// ReadTimeout bounds how long a read waits for a packet; the error is
	// ErrTimeout. Zero (the default) waits until a packet arrives or Close.
	ReadTimeout time.Duration
	// WriteTimeout bounds how long a write waits for room in a full ring or
	// for the link to come up. Zero means DefaultWriteTimeout; negative
	// waits forever.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds each step of the control handshake. Default
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// ReconnectInterval is how often a client retries after its link went
	// down. Default DefaultReconnectInterval (libmemif's examples use 2 s,
	// VPP 3 s); negative disables reconnecting.
	ReconnectInterval time.Duration
	// ConnectWait is how long Open (a client) keeps trying while the
	// server is not there yet: no socket, connection refused, or a refusal
	// that a starting server gives ("ID not found": testpmd answers that
	// until its port starts; "Already connected": it still holds our last
	// link). It tries every 100 ms and then returns the last attempt's
	// error. Any other refusal (a wrong secret, a mode mismatch) fails at
	// once. Zero (the default) tries once; negative waits until Open's
	// context ends (OpenContext). A server ignores it.
	ConnectWait time.Duration
	// CloseLinger is how long Close gives the peer to take the frames
	// still in the transmit rings, as a socket's SO_LINGER does: Close
	// returns as soon as the peer took them all, or the link went down,
	// or CloseLinger passed. Frames the peer never took count in
	// Stats().TxLost and TxDropped. Zero means DefaultCloseLinger;
	// negative skips the wait.
	CloseLinger time.Duration
	// OnRefuse, if set, is told each refusal on this Handle's link, one
	// line of text naming the reason: a server's refusal of a client
	// ("refused client: Incorrect secret ..."; refusals of an id that no
	// Handle serves go to every server Handle on the socket), and a
	// client's refusal by its server ("server refused the connection: ID
	// not found"). It is called from the Handle's goroutines and must not
	// block.
	OnRefuse func(reason string)
	// OnControl, if set, is told each control message of this Handle's
	// socket, sent or received, as one line ("sent INIT version 2.0 id 0
	// mode ethernet name \"memifpcap\", no secret"; "received DISCONNECT
	// \"Incorrect secret\""), so that a user sees why a link with VPP or
	// DPDK does not come up (the tools' -v). A server's Handles are told
	// of every connection on their socket (the id is known only from
	// INIT on). It is called from the Handle's goroutines and must not
	// block.
	OnControl func(line string)
	// Name is the application name sent in HELLO or INIT. Default
	// DefaultName.
	Name string
	// IfName is the interface name sent in CONNECT or CONNECTED. Default
	// "memifpcap<ID>".
	IfName string
	// CacheLine is the ring header's cache-line size, which nothing
	// negotiates: it must match the peer's build. 0 means 64 on amd64 and
	// 128 on arm64 (VPP ≥ 24.02 and DPDK's generic arm64 builds).
	CacheLine int
	// RxQueues is the number of receive queues, 1 to 255; 0 means 1. A
	// client offers that many rings from server to client; a server
	// accepts up to that many (a client offering more is refused "Invalid
	// ring index", as DPDK does) and uses fewer if its client offers fewer.
	// VPP calls it rx-queues, DPDK's testpmd --rxq.
	RxQueues int
	// TxQueues is the number of transmit queues, 1 to 255; 0 means 1; as
	// RxQueues, for the other direction.
	TxQueues int
	// RxMode is how every receive queue waits for frames; default
	// RxModeAdaptive. RxQueue.SetRxMode changes one queue's.
	RxMode RxMode
	// RequireSealedRegions makes a server refuse client memory that is not
	// sealed against shrinking (F_SEAL_SHRINK), as DPDK's copy-mode
	// clients, libmemif and memifpcap seal theirs. By default such memory
	// is accepted, because the zero-copy clients of VPP (its default when
	// hugepages are free) and DPDK cannot seal theirs; a client that
	// shrinks it under us then ends its own link with "Memory fault"
	// instead of crashing the process (see Handle).
	RequireSealedRegions bool
}

// config is a validated Config with defaults applied.
type config struct {
	Config
	addr control.Addr
	log2 uint8
}

func (c *Config) normalize() (*config, error) {
	var n config
	if c != nil {
		n.Config = *c
	}
	n.setDefaults()
	if errs := n.check(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &n, nil
}

// setDefaults gives every zero field its documented default.
func (n *config) setDefaults() {
	if n.Socket == "" {
		n.Socket = DefaultSocket
	}
	if n.RingSize == 0 {
		n.RingSize = DefaultRingSize
	}
	if n.BufferSize == 0 {
		n.BufferSize = DefaultBufferSize
	}
	if n.SnapLen == 0 {
		n.SnapLen = DefaultSnapLen
	}
	if n.WriteTimeout == 0 {
		n.WriteTimeout = DefaultWriteTimeout
	}
	if n.HandshakeTimeout == 0 {
		n.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if n.CloseLinger == 0 {
		n.CloseLinger = DefaultCloseLinger
	}
	if n.ReconnectInterval == 0 {
		n.ReconnectInterval = DefaultReconnectInterval
	}
	if n.Name == "" {
		n.Name = DefaultName
	}
	if n.IfName == "" {
		n.IfName = fmt.Sprintf("memifpcap%d", n.ID)
	}
	if n.RxQueues == 0 {
		n.RxQueues = 1
	}
	if n.TxQueues == 0 {
		n.TxQueues = 1
	}
	if n.CacheLine == 0 {
		n.CacheLine = ring.DefaultCacheLine()
	}
}

// check validates every field together, so that one error names every
// problem, and derives addr and log2.
func (n *config) check() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("memif: config: "+format, args...))
	}
	if n.Role != RoleClient && n.Role != RoleServer {
		bad("Role %d is neither RoleClient nor RoleServer", int(n.Role))
	}
	addr, err := control.ParseAddr(n.Socket)
	if err != nil {
		bad("Socket: %v", err)
	}
	if n.Netns != "" {
		switch ns, err := control.NetnsPath(n.Netns); {
		case err != nil:
			bad("Netns: %v", err)
		case addr.Netns != "" && addr.Netns != ns:
			bad("Netns %s and Socket's netns option %s disagree", ns, addr.Netns)
		default:
			addr.Netns = ns
		}
	}
	n.addr = addr
	if n.Role == RoleServer && addr.Abstract && (n.SocketOwner != 0 || n.SocketGroup != 0 || n.SocketPerm != 0) {
		bad("SocketOwner, SocketGroup and SocketPerm apply to a socket file, and %s is abstract", addr)
	}
	if n.SocketOwner < 0 || n.SocketGroup < 0 || n.SocketPerm&^fs.ModePerm != 0 {
		bad("SocketOwner %d, SocketGroup %d, SocketPerm %#o: want ids and permission bits", n.SocketOwner, n.SocketGroup, uint32(n.SocketPerm))
	}
	if len(n.Secret) > control.SecretSize-1 {
		bad("Secret is %d bytes; memif peers use at most %d", len(n.Secret), control.SecretSize-1)
	}
	if strings.IndexByte(n.Secret, 0) >= 0 {
		bad("Secret contains a NUL byte")
	}
	if n.Mode > ModePuntInject {
		bad("Mode %d is not ethernet (0), ip (1) or punt-inject (2)", n.Mode)
	}
	if n.RingSize < 2 || n.RingSize > 1<<ring.MaxLog2RingSize || n.RingSize&(n.RingSize-1) != 0 {
		bad("RingSize %d is not a power of two from 2 to %d", n.RingSize, 1<<ring.MaxLog2RingSize)
	} else {
		for 1<<n.log2 < n.RingSize {
			n.log2++
		}
	}
	if n.BufferSize < 1 || n.BufferSize > 65535 {
		bad("BufferSize %d is outside 1..65535", n.BufferSize)
	}
	if n.SnapLen < 1 {
		bad("SnapLen %d is not positive", n.SnapLen)
	}
	if n.ReadTimeout < 0 {
		bad("ReadTimeout %v is negative (0 waits forever)", n.ReadTimeout)
	}
	if n.HandshakeTimeout < 0 {
		bad("HandshakeTimeout %v is negative", n.HandshakeTimeout)
	}
	if len(n.Name) >= control.NameSize {
		bad("Name %q is longer than %d bytes", n.Name, control.NameSize-1)
	}
	if len(n.IfName) >= control.NameSize {
		bad("IfName %q is longer than %d bytes", n.IfName, control.NameSize-1)
	}
	if n.RxQueues < 1 || n.RxQueues > MaxQueues {
		bad("RxQueues %d is outside 1..%d", n.RxQueues, MaxQueues)
	}
	if n.TxQueues < 1 || n.TxQueues > MaxQueues {
		bad("TxQueues %d is outside 1..%d", n.TxQueues, MaxQueues)
	}
	if n.RxMode < RxModeAdaptive || n.RxMode > RxModeInterrupt {
		bad("RxMode %d is not adaptive (0), poll (1) or interrupt (2)", int(n.RxMode))
	}
	if n.CacheLine != 64 && n.CacheLine != 128 {
		bad("CacheLine %d is neither 64 nor 128", n.CacheLine)
	}
	return errs
}
