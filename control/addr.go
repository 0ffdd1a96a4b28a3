package control

import (
	"errors"
	"fmt"
	"net"
	"strconv"
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
	// Netns, when set, is the network namespace file (such as
	// /var/run/netns/NAME or /proc/PID/ns/net) in which the socket is
	// created (Listen) or dialled (Dial); the rest of the process stays in
	// its own. An abstract name exists only in the network namespace it
	// was bound in, so a pod's abstract memif socket is reached from
	// outside the pod only this way.
	Netns string
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
// spelling) or "abstract:name" (the VPP spelling), each optionally followed
// by VPP's network namespace option: ",netns_name=NAME" (a name that
// `ip netns add` made, /var/run/netns/NAME), ",netns_name=/PATH" (a
// namespace file, such as a container's /proc/PID/ns/net), or
// ",netns_pid=PID" (the namespace of process PID). Calico/VPP hands pods
// addresses like "abstract:vpp/memif-eth0,netns_name=/var/run/netns/x".
func ParseAddr(s string) (Addr, error) {
	rest, netns, err := cutNetns(s)
	if err != nil {
		return Addr{}, err
	}
	var a Addr
	switch {
	case rest == "":
		return Addr{}, errors.New("memif: empty socket address")
	case strings.HasPrefix(rest, "@"):
		a = Addr{Name: rest[1:], Abstract: true}
	case strings.HasPrefix(rest, "abstract:"):
		a = Addr{Name: rest[len("abstract:"):], Abstract: true}
	default:
		a = Addr{Name: rest}
	}
	a.Netns = netns
	if err := a.check(); err != nil {
		return Addr{}, err
	}
	return a, nil
}

// cutNetns splits VPP's ",netns_name=" or ",netns_pid=" option off the
// end of s and returns the namespace file it names.
func cutNetns(s string) (rest, netns string, err error) {
	for _, opt := range []string{",netns_name=", ",netns_pid="} {
		i := strings.LastIndex(s, opt)
		if i < 0 {
			continue
		}
		v := s[i+len(opt):]
		if opt == ",netns_pid=" {
			v = "pid:" + v
		}
		if netns, err = NetnsPath(v); err != nil {
			return "", "", fmt.Errorf("memif: socket address %q: %w", s, err)
		}
		return s[:i], netns, nil
	}
	return s, "", nil
}

// NetnsPath returns the file of the network namespace that ns names, as
// VPP reads its netns options (clib_netns_open, src/vppinfra/linux/netns.c)
// and `ip netns` names them: "/PATH" is that file, "pid:PID" the namespace
// of process PID (/proc/PID/ns/net), and a bare NAME /var/run/netns/NAME.
func NetnsPath(ns string) (string, error) {
	switch {
	case ns == "":
		return "", errors.New("empty network namespace")
	case strings.IndexByte(ns, 0) >= 0:
		return "", fmt.Errorf("network namespace %q contains a NUL byte", ns)
	case strings.HasPrefix(ns, "/"):
		return ns, nil
	case strings.HasPrefix(ns, "pid:"):
		pid, err := strconv.ParseUint(ns[len("pid:"):], 10, 31)
		if err != nil || pid == 0 {
			return "", fmt.Errorf("network namespace %q: not a process id", ns)
		}
		return "/proc/" + strconv.FormatUint(pid, 10) + "/ns/net", nil
	case strings.Contains(ns, "/"):
		return "", fmt.Errorf("network namespace %q: a name has no '/' (give a path from the root)", ns)
	}
	return "/var/run/netns/" + ns, nil
}

func (a Addr) check() error {
	switch {
	case a.Name == "" && a.Abstract:
		return errors.New("memif: empty abstract socket name")
	case a.Name == "":
		return errors.New("memif: empty socket address")
	case strings.IndexByte(a.Name, 0) >= 0, strings.IndexByte(a.Netns, 0) >= 0:
		return fmt.Errorf("memif: socket address %q contains a NUL byte", a.String())
	case a.Abstract && len(a.Name) > maxAbstractLen:
		return fmt.Errorf("memif: abstract socket name %q is %d bytes, at most %d fit", a.Name, len(a.Name), maxAbstractLen)
	case !a.Abstract && len(a.Name) > maxPathLen:
		return fmt.Errorf("memif: socket path %q is %d bytes, at most %d fit", a.Name, len(a.Name), maxPathLen)
	}
	return nil
}

// String returns "@name" for an abstract address, else the path, with
// ",netns_name=FILE" after it when Netns is set; ParseAddr reads it back.
func (a Addr) String() string {
	s := a.Name
	if a.Abstract {
		s = "@" + a.Name
	}
	if a.Netns != "" {
		s += ",netns_name=" + a.Netns
	}
	return s
}

// unixAddr is the net package form: a leading '@' makes Go put a NUL first
// and drop the trailing NUL, which is the kernel address every peer uses.
func (a Addr) unixAddr() *net.UnixAddr {
	if a.Abstract {
		return &net.UnixAddr{Name: "@" + a.Name, Net: "unixpacket"}
	}
	return &net.UnixAddr{Name: a.Name, Net: "unixpacket"}
}
