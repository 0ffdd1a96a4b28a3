package control

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Addr is the address of a memif control socket: a filesystem path or a Linux
// abstract socket name.
//
// The two are not interchangeable and the defaults differ: DPDK listens on
// the abstract name "/run/memif.sock" (written "@/run/memif.sock") unless
// given socket-abstract=no, while VPP and libmemif use the file
// /run/vpp/memif.sock.
type Addr struct {
	// Name is the filesystem path, or the abstract name without the leading
	// NUL or '@'.
	Name string
	// Abstract selects the abstract namespace (scoped to the network
	// namespace, no file, no permissions).
	Abstract bool
}

// sun_path is 108 bytes. A path needs its trailing NUL; an abstract address is
// a NUL then the name, without a trailing NUL (addrlen 2+1+len(name), which
// every peer and Go's net package use). libmemif builds "@name\0" in the
// 108-byte field, so 106 is the longest name every peer can spell.
const (
	maxPathLen     = 107
	maxAbstractLen = 106
)

// ParseAddr accepts a filesystem path, "@name" (abstract, the libmemif and Go
// spelling) or "abstract:name" (the VPP spelling). VPP's ",netns_name=" and
// ",netns_pid=" suffixes are refused: joining another network namespace is
// not supported.
func ParseAddr(s string) (Addr, error) {
	var a Addr
	switch {
	case s == "":
		return Addr{}, errors.New("memif: empty socket address")
	case strings.HasPrefix(s, "@"):
		a = Addr{Name: s[1:], Abstract: true}
	case strings.HasPrefix(s, "abstract:"):
		a = Addr{Name: s[len("abstract:"):], Abstract: true}
		for _, opt := range []string{",netns_name=", ",netns_pid="} {
			if strings.Contains(a.Name, opt) {
				return Addr{}, fmt.Errorf("memif: socket address %q: VPP's %q option is not supported (run in that network namespace instead)", s, strings.Trim(opt, ",="))
			}
		}
	default:
		a = Addr{Name: s}
	}
	if err := a.check(); err != nil {
		return Addr{}, err
	}
	return a, nil
}

func (a Addr) check() error {
	switch {
	case a.Name == "" && a.Abstract:
		return errors.New("memif: empty abstract socket name")
	case a.Name == "":
		return errors.New("memif: empty socket address")
	case strings.IndexByte(a.Name, 0) >= 0:
		return fmt.Errorf("memif: socket address %q contains a NUL byte", a.String())
	case a.Abstract && len(a.Name) > maxAbstractLen:
		return fmt.Errorf("memif: abstract socket name %q is %d bytes, at most %d fit", a.Name, len(a.Name), maxAbstractLen)
	case !a.Abstract && len(a.Name) > maxPathLen:
		return fmt.Errorf("memif: socket path %q is %d bytes, at most %d fit", a.Name, len(a.Name), maxPathLen)
	}
	return nil
}

// String returns "@name" for an abstract address, else the path; ParseAddr
// reads it back.
func (a Addr) String() string {
	if a.Abstract {
		return "@" + a.Name
	}
	return a.Name
}

// unixAddr is the net package form: a leading '@' makes Go put a NUL first
// and drop the trailing NUL, which is the kernel address every peer uses.
func (a Addr) unixAddr() *net.UnixAddr {
	return &net.UnixAddr{Name: a.String(), Net: "unixpacket"}
}
