// Package memifflag is what the tools (memifdump, memifinject,
// memifperf) share about a memif connection, so that they spell, check
// and do it the same way: the connection flags (-socket, -id, -role,
// -secret, -mode, -ring-size, -buffer-size, -rx-queues, -tx-queues,
// -rx-mode, -wait, -netns, -socket-owner, -socket-mode), the start-up (Open, WaitLink: a client waits for a
// server that is starting, refusals are told) and the signals that stop a
// tool (Signals).
package memifflag

import (
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// DefaultWait is -wait's default: how long a tool waits for its peer.
const DefaultWait = 10 * time.Second

// Flags holds the connection flags after parsing.
type Flags struct {
	Socket     string
	ID         uint64
	Role       string
	Secret     string
	Mode       string
	RingSize   int
	BufferSize int
	RxQueues   int // VPP's rx-queues
	TxQueues   int // VPP's tx-queues
	RxMode     string
	Netns      string // -netns: the network namespace of the socket
	// SocketOwner ("USER[:GROUP]", names or ids) and SocketMode (octal)
	// are a server's socket file's.
	SocketOwner string
	SocketMode  string
	// Wait is -wait: how long a client keeps trying to connect while the
	// server is not there yet, and how long a tool that needs the link
	// waits for it; 0 means one try, negative ("forever") no limit.
	Wait time.Duration
}

// Register defines the connection flags on fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Socket, "socket", memifpcap.DefaultSocket, "memif control `socket`: a path, or @name (or abstract:name) for an abstract socket; DPDK's default is @/run/memif.sock")
	fs.Uint64Var(&f.ID, "id", 0, "memif interface `id`")
	fs.StringVar(&f.Role, "role", "client", "memif `role`: client or server")
	fs.StringVar(&f.Secret, "secret", "", "memif shared `secret` (at most 23 bytes)")
	fs.StringVar(&f.Mode, "mode", "ethernet", "interface `mode`: ethernet, ip or punt-inject")
	fs.IntVar(&f.RingSize, "ring-size", memifpcap.DefaultRingSize, "`slots` per ring, a power of two from 2 to 16384")
	fs.IntVar(&f.BufferSize, "buffer-size", memifpcap.DefaultBufferSize, "packet buffer size in `bytes` (1 to 65535); larger frames travel as chains")
	fs.IntVar(&f.RxQueues, "rx-queues", 1, fmt.Sprintf("receive `queues` (rings the peer fills for us), 1 to %d", memifpcap.MaxQueues))
	fs.IntVar(&f.TxQueues, "tx-queues", 1, fmt.Sprintf("transmit `queues` (rings we fill for the peer), 1 to %d", memifpcap.MaxQueues))
	fs.StringVar(&f.RxMode, "rx-mode", "adaptive", "how a receive queue waits: adaptive (poll briefly, then sleep on the interrupt), poll (busy-poll, never sleep) or interrupt")
	fs.StringVar(&f.Netns, "netns", "", "create or dial the socket in network namespace `NS`: a name from ip netns add, a path (/proc/PID/ns/net) or pid:PID; also VPP's abstract:NAME,netns_name=NS")
	fs.StringVar(&f.SocketOwner, "socket-owner", "", "a server's socket file's owner `USER[:GROUP]` (names or ids), as DPDK's owner-uid/owner-gid")
	fs.StringVar(&f.SocketMode, "socket-mode", "", "a server's socket file's permission bits, in `octal` (such as 0660)")
	f.RegisterWait(fs)
	return f
}

// RegisterWait defines -wait on fs alone, for a tool that defines the
// other connection flags itself (memifperf, whose -mode is its own).
func (f *Flags) RegisterWait(fs *flag.FlagSet) {
	f.Wait = DefaultWait
	fs.Var(waitValue{&f.Wait}, "wait", "wait up to `D` for the peer: a client keeps trying (every 100 ms) while the server is not there yet "+
		"(no socket, or it answers \"ID not found\" as a starting DPDK does), and a tool that needs the link waits that long for it "+
		"(memifinject and memifperf as a server, for their client; memifdump as a server waits for clients until stopped); "+
		"0 tries once, forever waits until stopped. "+
		"A Go duration (1.5s, 200ms) or seconds")
}

// waitValue is -wait: a Go duration or plain seconds, or "forever" (any
// negative duration says the same).
type waitValue struct{ d *time.Duration }

func (v waitValue) String() string {
	switch {
	case v.d == nil:
		return "0s" // the zero value, for flag.PrintDefaults
	case *v.d < 0:
		return "forever"
	}
	return v.d.String()
}

func (v waitValue) Set(s string) error {
	if s == "forever" {
		*v.d = -1
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != f || f > 1e9 || f < -1e9 {
			return fmt.Errorf("want a duration such as 10s or 200ms, seconds, or forever")
		}
		d = time.Duration(f * float64(time.Second))
	}
	*v.d = max(d, -1)
	return nil
}

// WaitText says how long a wait of d (-wait) lasts, for messages:
// "for up to 10s (-wait)", "until stopped (-wait forever)".
func WaitText(d time.Duration) string {
	if d < 0 {
		return "until stopped (-wait forever)"
	}
	return fmt.Sprintf("for up to %v (-wait)", d)
}

// Config turns the flags into a memifpcap.Config. Errors name the flag.
func (f *Flags) Config() (*memifpcap.Config, error) {
	role, err := memifpcap.ParseRole(f.Role)
	if err != nil {
		return nil, fmt.Errorf("-role: %w", err)
	}
	mode, err := memifpcap.ParseMode(f.Mode)
	if err != nil {
		return nil, fmt.Errorf("-mode: %w", err)
	}
	if f.ID > math.MaxUint32 {
		return nil, fmt.Errorf("-id %d: memif interface ids are 32-bit", f.ID)
	}
	if f.Socket == "" {
		return nil, fmt.Errorf("-socket: empty")
	}
	if n := f.RingSize; n < 2 || n > 16384 || n&(n-1) != 0 {
		return nil, fmt.Errorf("-ring-size %d: want a power of two from 2 to 16384", n)
	}
	if n := f.BufferSize; n < 1 || n > 65535 {
		return nil, fmt.Errorf("-buffer-size %d: want 1 to 65535 bytes", n)
	}
	if n := f.RxQueues; n < 1 || n > memifpcap.MaxQueues {
		return nil, fmt.Errorf("-rx-queues %d: want 1 to %d", n, memifpcap.MaxQueues)
	}
	if n := f.TxQueues; n < 1 || n > memifpcap.MaxQueues {
		return nil, fmt.Errorf("-tx-queues %d: want 1 to %d", n, memifpcap.MaxQueues)
	}
	rxMode := memifpcap.RxModeAdaptive
	if f.RxMode != "" {
		if rxMode, err = memifpcap.ParseRxMode(f.RxMode); err != nil {
			return nil, fmt.Errorf("-rx-mode: %w", err)
		}
	}
	if len(f.Secret) > 23 {
		return nil, fmt.Errorf("-secret: %d bytes; memif peers use at most 23", len(f.Secret))
	}
	cfg := &memifpcap.Config{
		Role:       role,
		Socket:     f.Socket,
		ID:         uint32(f.ID),
		Secret:     f.Secret,
		Mode:       mode,
		RingSize:   f.RingSize,
		BufferSize: f.BufferSize,
		RxQueues:   f.RxQueues,
		TxQueues:   f.TxQueues,
		RxMode:     rxMode,
		// A client's Open waits -wait for its server; negative is
		// "until the context ends" in both.
		ConnectWait: f.Wait,
		Netns:       f.Netns,
	}
	if err := f.socketFile(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// socketFile sets the socket file's owner, group and mode from
// -socket-owner and -socket-mode.
func (f *Flags) socketFile(cfg *memifpcap.Config) error {
	if f.SocketMode != "" {
		m, err := strconv.ParseUint(f.SocketMode, 8, 32)
		if err != nil || m == 0 || m > 0o777 {
			return fmt.Errorf("-socket-mode %s: want octal permission bits, 1 to 0777 (such as 0660)", f.SocketMode)
		}
		cfg.SocketPerm = fs.FileMode(m)
	}
	if f.SocketOwner != "" {
		u, g, _ := strings.Cut(f.SocketOwner, ":")
		var err error
		if cfg.SocketOwner, err = lookupID(u, "user", user.Lookup, func(u *user.User) string { return u.Uid }); err != nil {
			return fmt.Errorf("-socket-owner %s: %w", f.SocketOwner, err)
		}
		if g != "" {
			if cfg.SocketGroup, err = lookupID(g, "group", user.LookupGroup, func(g *user.Group) string { return g.Gid }); err != nil {
				return fmt.Errorf("-socket-owner %s: %w", f.SocketOwner, err)
			}
		}
	}
	return nil
}

// lookupID returns the id a number or a name stands for.
func lookupID[T any](s, what string, lookup func(string) (T, error), id func(T) string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty %s", what)
	}
	if n, err := strconv.ParseUint(s, 10, 31); err == nil {
		return int(n), nil
	}
	v, err := lookup(s)
	if err != nil {
		return 0, fmt.Errorf("no %s %q", what, s)
	}
	n, err := strconv.Atoi(id(v))
	if err != nil {
		return 0, fmt.Errorf("%s %q has id %q", what, s, id(v))
	}
	return n, nil
}
