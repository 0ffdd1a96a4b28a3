package control

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// What the control socket needs of Linux itself; sys_other.go says "not
// supported" elsewhere, so that the package documents and vets everywhere.

// credSpace is room for the SCM_CREDENTIALS message a listener with
// SO_PASSCRED receives with every message (DPDK's and VPP's listeners set
// it; peers may send them).
var credSpace = unix.CmsgSpace(unix.SizeofUcred)

// probeSocket tries a non-blocking SOCK_SEQPACKET connect to path. Connects on
// AF_UNIX complete or fail at once, so no poller is needed.
func probeSocket(path string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return os.NewSyscallError("connect", err)
	}
	return nil
}

func (l *Listener) setPassCred() error {
	rc, err := l.ul.SyscallConn()
	if err != nil {
		return fmt.Errorf("memif: listen on %s: %w", l.addr, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return fmt.Errorf("memif: listen on %s: %w", l.addr, err)
	}
	if serr != nil {
		return fmt.Errorf("memif: listen on %s: %w", l.addr, os.NewSyscallError("setsockopt SO_PASSCRED", serr))
	}
	return nil
}
