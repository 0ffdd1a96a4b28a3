// Package memifflag defines the memif connection flags that memifdump and
// memifinject share (-socket, -id, -role, -secret, -mode, -ring-size,
// -buffer-size), so that both tools spell and check them the same way.
package memifflag

import (
	"flag"
	"fmt"
	"math"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// Flags holds the connection flags after parsing.
type Flags struct {
	Socket     string
	ID         uint64
	Role       string
	Secret     string
	Mode       string
	RingSize   int
	BufferSize int
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
	return f
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
	if len(f.Secret) > 23 {
		return nil, fmt.Errorf("-secret: %d bytes; memif peers use at most 23", len(f.Secret))
	}
	return &memifpcap.Config{
		Role:       role,
		Socket:     f.Socket,
		ID:         uint32(f.ID),
		Secret:     f.Secret,
		Mode:       mode,
		RingSize:   f.RingSize,
		BufferSize: f.BufferSize,
	}, nil
}
