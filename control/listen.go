package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Listener is a memif server's SOCK_SEQPACKET listening socket.
type Listener struct {
	ul   *net.UnixListener
	addr Addr

	closeOnce sync.Once
	closeErr  error
}

// Listen creates the listening socket at a, with SO_PASSCRED set like every
// other memif server (peers make room for credentials and ignore them).
//
// For a filesystem path that already exists: a socket nobody accepts on
// (connect gives ECONNREFUSED) is a leftover of a dead server and is removed,
// as VPP does (DPDK and libmemif fail with EADDRINUSE instead, the most
// common memif setup trap); a socket somebody accepts on, or a file that is
// not a socket, is an error. The socket file is removed again by Close.
func Listen(a Addr) (*Listener, error) {
	return ListenConfig{UID: -1, GID: -1}.Listen(a)
}

// ListenConfig says who may connect to a server's socket file: the file
// Listen creates has the process's user and group and mode 0777 less the
// umask, and connecting needs write permission on it. As DPDK's
// owner-uid=/owner-gid= do, a server running as root can hand the socket
// to the unprivileged application that must connect to it.
type ListenConfig struct {
	// UID and GID, when not -1, become the socket file's owner and
	// group (chown: changing the owner needs CAP_CHOWN).
	UID, GID int
	// Perm, when not 0, becomes the socket file's permission bits
	// (such as 0660).
	Perm fs.FileMode
}

// Listen is Listen with the socket file's owner, group and mode set as lc
// says, right after the socket is bound and before Listen returns (a
// client that the umask's mode lets in can queue a connection in
// between, as with DPDK's chown after bind). They apply to a filesystem
// socket only: an abstract socket has no file, and asking for them there
// is an error.
func (lc ListenConfig) Listen(a Addr) (*Listener, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if err := lc.check(a); err != nil {
		return nil, err
	}
	if !a.Abstract {
		if err := removeStaleSocket(a.Name); err != nil {
			return nil, err
		}
	}
	var ul *net.UnixListener
	err := inNetns(a.Netns, func() (err error) {
		ul, err = net.ListenUnix("unixpacket", a.unixAddr())
		return err
	})
	if err != nil {
		return nil, listenError(a, err)
	}
	l := &Listener{ul: ul, addr: a}
	if err := l.setPassCred(); err != nil {
		l.Close()
		return nil, err
	}
	if err := lc.apply(a.Name); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (lc ListenConfig) check(a Addr) error {
	switch {
	case a.Abstract && (lc.UID != -1 || lc.GID != -1 || lc.Perm != 0):
		return fmt.Errorf("memif: listen on %s: an abstract socket has no file, so it has no owner, group or mode to set", a)
	case lc.UID < -1 || lc.GID < -1:
		return fmt.Errorf("memif: listen on %s: owner %d and group %d: want an id, or -1 to keep the process's", a, lc.UID, lc.GID)
	case lc.Perm&^fs.ModePerm != 0:
		return fmt.Errorf("memif: listen on %s: mode %#o: only permission bits (at most 0777)", a, uint32(lc.Perm))
	}
	return nil
}

// apply sets the socket file's mode, then its owner and group (after
// which an unprivileged process could no longer change the mode).
func (lc ListenConfig) apply(path string) error {
	if lc.Perm != 0 {
		if err := os.Chmod(path, lc.Perm); err != nil {
			return fmt.Errorf("memif: listen on %s: setting the socket file's mode: %w", path, err)
		}
	}
	if lc.UID != -1 || lc.GID != -1 {
		if err := os.Lchown(path, lc.UID, lc.GID); err != nil {
			return fmt.Errorf("memif: listen on %s: setting the socket file's owner %d and group %d (needs CAP_CHOWN to give it away): %w", path, lc.UID, lc.GID, err)
		}
	}
	return nil
}

func listenError(a Addr, err error) error {
	switch {
	case a.Abstract && errors.Is(err, unix.EADDRINUSE):
		return fmt.Errorf("memif: listen on %s: the abstract socket name is already in use by another process: %w", a, err)
	case errors.Is(err, unix.EADDRINUSE):
		return fmt.Errorf("memif: listen on %s: address in use (another process created it meanwhile?): %w", a, err)
	case !a.Abstract && errors.Is(err, unix.ENOENT):
		return fmt.Errorf("memif: listen on %s: directory %s does not exist: %w", a, filepath.Dir(a.Name), err)
	case !a.Abstract && errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("memif: listen on %s: a parent of the socket path is not a directory: %w", a, err)
	case !a.Abstract && errors.Is(err, unix.EACCES):
		return fmt.Errorf("memif: listen on %s: no permission to create the socket file in %s: %w", a, filepath.Dir(a.Name), err)
	}
	return fmt.Errorf("memif: listen on %s: %w", a, err)
}

// removeStaleSocket makes room for our socket at path, or says why it can't.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing there (or no parent directory: bind says which)
	}
	if err != nil {
		return fmt.Errorf("memif: socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("memif: socket %s: exists and is not a socket (%s)", path, fi.Mode().Type())
	}
	switch err := probeSocket(path); {
	case errors.Is(err, unix.ECONNREFUSED):
		// Nobody accepts: a dead server's leftover.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("memif: socket %s: removing stale socket file: %w", path, err)
		}
		return nil
	case errors.Is(err, unix.ENOENT):
		return nil // removed since the Lstat
	case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EPROTOTYPE):
		// Accepted, backlog full, or a listener of another socket type:
		// in every case a live process owns the path.
		return fmt.Errorf("memif: socket %s: another process is listening on it", path)
	default:
		return fmt.Errorf("memif: socket %s: probing existing socket: %w", path, err)
	}
}

// Accept waits for the next client. After Close it returns an error wrapping
// net.ErrClosed.
func (l *Listener) Accept() (*Conn, error) {
	uc, err := l.ul.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("memif: accept on %s: %w", l.addr, err)
	}
	return newConn(uc), nil
}

// Close stops listening, unblocks Accept and removes the socket file Listen
// created. Closing twice is harmless and returns nil.
func (l *Listener) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		l.closeErr = l.ul.Close()
	})
	if !first || l.closeErr == nil {
		return nil
	}
	return fmt.Errorf("memif: close listener %s: %w", l.addr, l.closeErr)
}

// Addr returns the address the listener was created with.
func (l *Listener) Addr() Addr { return l.addr }
