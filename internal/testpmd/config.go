package testpmd

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Fixed parts of the command line. They are the combination proven on
// machines without hugepages: --in-memory cannot be combined with --no-huge
// in 22.11 (EAL: "Option --legacy-mem is not compatible with --in-memory"), and testpmd's default mbuf pool
// (about 338 MB) does not fit in -m 256.
const (
	memoryMB   = 256
	totalMbufs = 16384
	// mbufHeadroom is RTE_PKTMBUF_HEADROOM: the part of an mbuf's data room
	// that generated frames cannot use.
	mbufHeadroom     = 128
	defaultMbufSize  = 2176 // RTE_MBUF_DEFAULT_BUF_SIZE
	maxSocketNameLen = 107  // sun_path is 108 bytes: a NUL ends a path, or starts an abstract name
	maxSecretLen     = 23   // DPDK strlcpy()s the secret into 24 bytes
)

// forwardModes are testpmd 22.11's forwarding engines.
var forwardModes = map[string]bool{
	"io": true, "mac": true, "macswap": true, "flowgen": true, "rxonly": true,
	"txonly": true, "csum": true, "icmpecho": true, "ieee1588": true,
	"noisy": true, "5tswap": true, "shared-rxq": true,
}

// settings is a validated Config with its defaults applied.
type settings struct {
	Config
	abstract bool
	sockArg  string // socket= devarg: the path, or the abstract name without "@"
	sockShow string // the socket as /proc/net/unix and Go's net package show it
}

// settings validates c together and applies the defaults. Values end up in
// a comma-separated devargs string, so ',' and '=' (kvargs separators) and
// spaces are refused rather than mangled.
func (c Config) settings() (settings, error) {
	s := settings{Config: c}
	bad := func(field, format string, args ...any) (settings, error) {
		return settings{}, fmt.Errorf("%w: Config.%s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch c.Role {
	case "server", "client":
	default:
		return bad("Role", "%q: want \"server\" or \"client\"", c.Role)
	}

	name := c.Socket
	if strings.HasPrefix(name, "@") {
		s.abstract = true
		name = name[1:]
	}
	if name == "" {
		return bad("Socket", "%q: want a path or \"@name\"", c.Socket)
	}
	if err := devargValue(name); err != nil {
		return bad("Socket", "%q: %v", c.Socket, err)
	}
	if s.abstract {
		s.sockArg, s.sockShow = name, "@"+name
	} else {
		abs, err := filepath.Abs(name)
		if err != nil {
			return bad("Socket", "%q: %v", c.Socket, err)
		}
		if strings.HasPrefix(abs, "@") {
			// cannot happen for an absolute path; keeps the two forms apart
			return bad("Socket", "%q: path starts with '@'", c.Socket)
		}
		s.sockArg, s.sockShow = abs, abs
	}
	if len(s.sockArg) > maxSocketNameLen {
		return bad("Socket", "%q: %d bytes, at most %d fit in sun_path", s.sockShow, len(s.sockArg), maxSocketNameLen)
	}

	if len(c.Secret) > maxSecretLen {
		return bad("Secret", "%d bytes: DPDK uses at most %d", len(c.Secret), maxSecretLen)
	}
	if c.Secret != "" {
		if err := devargValue(c.Secret); err != nil {
			return bad("Secret", "%v", err)
		}
	}
	if c.BSize < 0 || c.BSize > 65535 {
		return bad("BSize", "%d: want 1..65535, or 0 for 2048", c.BSize)
	}
	if c.RSize < 0 || c.RSize > 14 {
		return bad("RSize", "%d: want log2 ring size 1..14, or 0 for 10", c.RSize)
	}
	if c.Queues < 0 || c.Queues > 255 {
		return bad("Queues", "%d: want 1..255, or 0 for 1", c.Queues)
	}
	if s.Queues == 0 {
		s.Queues = 1
	}
	if c.ZeroCopy && c.Role != "client" {
		return bad("ZeroCopy", "set for a %s: DPDK's zero-copy is client only", c.Role)
	}
	if s.Forward == "" {
		s.Forward = "rxonly"
	}
	if !forwardModes[s.Forward] {
		return bad("Forward", "%q: not a testpmd 22.11 forward mode", c.Forward)
	}
	if c.MbufSize != 0 && (c.MbufSize <= mbufHeadroom || c.MbufSize > 65535) {
		return bad("MbufSize", "%d: want %d..65535 (data room including %d bytes of headroom), or 0 for %d",
			c.MbufSize, mbufHeadroom+1, mbufHeadroom, defaultMbufSize)
	}
	if c.TxPktLen != 0 && (c.TxPktLen < 42 || c.TxPktLen > 16384) {
		return bad("TxPktLen", "%d: want 42..16384 (Ethernet+IPv4+UDP headers at least), or 0 for 64", c.TxPktLen)
	}
	if s.Cores == "" {
		s.Cores = defaultCores(c.Role, allowedCPUs())
	}
	if strings.Trim(s.Cores, "0123456789@,()-") != "" {
		return bad("Cores", "%q: not an EAL --lcores list", c.Cores)
	}
	for i, a := range c.ExtraEAL {
		if a == "--" {
			return bad("ExtraEAL", "[%d] is \"--\": application arguments go in ExtraApp", i)
		}
	}
	return s, nil
}

// devargValue reports whether v can be passed as one devargs value.
func devargValue(v string) error {
	for _, r := range v {
		switch {
		case r == ',' || r == '=':
			return fmt.Errorf("contains %q, a devargs separator", r)
		case r <= ' ' || r == 0x7f:
			return fmt.Errorf("contains a space or control character")
		}
	}
	return nil
}

// defaultCores pins a server's two lcores to the first allowed CPU and a
// client's to the second, so two busy-polling testpmd peers get a CPU each.
func defaultCores(role string, cpus []int) string {
	cpu := 0
	if len(cpus) > 0 {
		cpu = cpus[0]
	}
	if role == "client" && len(cpus) > 1 {
		cpu = cpus[1]
	}
	return fmt.Sprintf("0@%d,1@%d", cpu, cpu)
}

// devargs is the --vdev value of the memif port.
func (s *settings) devargs() string {
	abstract := "no"
	if s.abstract {
		abstract = "yes"
	}
	// socket-abstract is always explicit: DPDK 22.11 defaults it to yes
	v := fmt.Sprintf("net_memif0,role=%s,id=%d,socket=%s,socket-abstract=%s", s.Role, s.ID, s.sockArg, abstract)
	if s.Secret != "" {
		v += ",secret=" + s.Secret
	}
	if s.BSize != 0 {
		v += ",bsize=" + strconv.Itoa(s.BSize)
	}
	if s.RSize != 0 {
		v += ",rsize=" + strconv.Itoa(s.RSize)
	}
	if s.ZeroCopy {
		v += ",zero-copy=yes"
	}
	return v
}

// txpkts splits a frame of n bytes into the mbuf segments testpmd's txonly
// engine generates: each must fit an mbuf after its headroom.
func txpkts(n, mbufSize int) string {
	if mbufSize == 0 {
		mbufSize = defaultMbufSize
	}
	seg := mbufSize - mbufHeadroom
	var b strings.Builder
	for n > 0 {
		l := min(n, seg)
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(l))
		n -= l
	}
	return b.String()
}

// args is testpmd's argument list (without argv[0]) for EAL file prefix
// prefix.
func (s *settings) args(prefix string) []string {
	a := []string{
		"--lcores=" + s.Cores,
		"--no-huge", "-m", strconv.Itoa(memoryMB), "--no-pci",
		"--file-prefix=" + prefix,
		// the link and handshake events are read from these debug lines
		"--log-level=pmd.net.memif:debug",
		"--vdev=" + s.devargs(),
	}
	if s.ZeroCopy {
		// "Zero-copy doesn't support multi-file segments" otherwise.
		a = append(a, "--single-file-segments")
	}
	a = append(a, s.ExtraEAL...)
	a = append(a, "--",
		"-i",
		"--forward-mode="+s.Forward,
		"--port-topology=loop",
		"--total-num-mbufs="+strconv.Itoa(totalMbufs),
		"--rxq="+strconv.Itoa(s.Queues),
		"--txq="+strconv.Itoa(s.Queues),
	)
	if s.MbufSize != 0 {
		a = append(a, "--mbuf-size="+strconv.Itoa(s.MbufSize))
	}
	if s.TxPktLen != 0 {
		a = append(a, "--txpkts="+txpkts(s.TxPktLen, s.MbufSize))
	}
	return append(a, s.ExtraApp...)
}
