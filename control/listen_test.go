//go:build linux

package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// abstractAddr returns a fresh abstract name, unique across concurrent test
// runs on this machine.
func abstractAddr(t *testing.T) Addr {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	return Addr{Name: "/memifpcap-test/" + t.Name() + "/" + hex.EncodeToString(b[:]), Abstract: true}
}

func fileAddr(t *testing.T) Addr {
	t.Helper()
	return Addr{Name: filepath.Join(t.TempDir(), "memif.sock")}
}

func listen(t *testing.T, a Addr) *Listener {
	t.Helper()
	l, err := Listen(a)
	if err != nil {
		t.Fatalf("Listen(%s): %v", a, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// exchange dials l, accepts, and passes one message each way.
func exchange(t *testing.T, l *Listener) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, l.Addr())
	if err != nil {
		t.Fatalf("Dial(%s): %v", l.Addr(), err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer s.Close()
	if err := s.Send(Hello{Name: "srv"}, -1); err != nil {
		t.Fatal(err)
	}
	if m, _, err := c.Recv(time.Now().Add(5 * time.Second)); err != nil || m != (Hello{Name: "srv"}) {
		t.Fatalf("client Recv = %#v, %v", m, err)
	}
	if err := c.Send(Connect{IfName: "cli"}, -1); err != nil {
		t.Fatal(err)
	}
	// The listener sets SO_PASSCRED, so this message arrives with an
	// SCM_CREDENTIALS cmsg that Recv must make room for and skip.
	if m, fd, err := s.Recv(time.Now().Add(5 * time.Second)); err != nil || m != (Connect{IfName: "cli"}) || fd != -1 {
		t.Fatalf("server Recv = %#v, %d, %v", m, fd, err)
	}
}

func sockOptPassCred(t *testing.T, l *Listener) int {
	t.Helper()
	rc, err := l.ul.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED) })
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

func TestListenAbstract(t *testing.T) {
	t.Parallel()
	a := abstractAddr(t)
	l := listen(t, a)
	if l.Addr() != a {
		t.Errorf("Addr() = %#v, want %#v", l.Addr(), a)
	}
	if v := sockOptPassCred(t, l); v != 1 {
		t.Errorf("SO_PASSCRED = %d, want 1", v)
	}
	exchange(t, l)

	_, err := Listen(a)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) ||
		!strings.HasPrefix(err.Error(), "memif: listen on "+a.String()+": the abstract socket name is already in use by another process: ") {
		t.Fatalf("second Listen(%s) = %v", a, err)
	}
}

// The kernel address must be NUL + name with no trailing NUL (addrlen
// 2+1+len), the form DPDK, VPP and libmemif bind and connect to.
func TestListenAbstractKernelAddress(t *testing.T) {
	t.Parallel()
	name := abstractAddr(t).Name
	name += strings.Repeat("x", maxAbstractLen-len(name)) // longest allowed
	l := listen(t, Addr{Name: name, Abstract: true})
	rc, err := l.ul.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var raw unix.RawSockaddrUnix
	alen := uint32(unsafe.Sizeof(raw))
	rc.Control(func(fd uintptr) {
		_, _, errno := unix.Syscall(unix.SYS_GETSOCKNAME, fd, uintptr(unsafe.Pointer(&raw)), uintptr(unsafe.Pointer(&alen)))
		if errno != 0 {
			err = errno
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := uint32(2 + 1 + len(name)); alen != want {
		t.Fatalf("kernel address length %d, want %d", alen, want)
	}
	got := make([]byte, 0, alen-2)
	for _, c := range raw.Path[:alen-2] {
		got = append(got, byte(c))
	}
	if want := "\x00" + name; string(got) != want {
		t.Errorf("kernel address %q, want %q", got, want)
	}

	// A raw client using libmemif's form (same length rule) reaches it.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		t.Fatalf("raw connect: %v", err)
	}
}

func TestListenFile(t *testing.T) {
	t.Parallel()
	a := fileAddr(t)
	l := listen(t, a)
	fi, err := os.Lstat(a.Name)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("socket file: %v, %v", fi, err)
	}
	if v := sockOptPassCred(t, l); v != 1 {
		t.Errorf("SO_PASSCRED = %d, want 1", v)
	}
	exchange(t, l)
	exchange(t, l) // the listener serves more than one client

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(a.Name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file after Close: %v, want it removed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	t.Parallel()
	a := fileAddr(t)
	// A dead server: bound, never unlinked.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: a.Name}); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, err := Dial(context.Background(), a); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial to the stale socket: %v, want ECONNREFUSED", err)
	}

	l := listen(t, a)
	exchange(t, l)
}

func TestListenRefusesLiveSocket(t *testing.T) {
	t.Parallel()
	a := fileAddr(t)
	l := listen(t, a)
	_, err := Listen(a)
	if want := "memif: socket " + a.Name + ": another process is listening on it"; err == nil || err.Error() != want {
		t.Fatalf("second Listen = %v, want %q", err, want)
	}
	// The probe's connection sits in l's backlog; drain it, then l still
	// serves real clients and its file is still there.
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	exchange(t, l)
}

func TestListenRefusesLiveStreamSocket(t *testing.T) {
	t.Parallel()
	a := fileAddr(t)
	sl, err := net.Listen("unix", a.Name) // SOCK_STREAM: connect gives EPROTOTYPE
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	_, err = Listen(a)
	if want := "memif: socket " + a.Name + ": another process is listening on it"; err == nil || err.Error() != want {
		t.Fatalf("Listen = %v, want %q", err, want)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	t.Parallel()
	a := fileAddr(t)
	if err := os.WriteFile(a.Name, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(a)
	if want := "memif: socket " + a.Name + ": exists and is not a socket (----------)"; err == nil || err.Error() != want {
		t.Fatalf("Listen = %v, want %q", err, want)
	}
	if b, err := os.ReadFile(a.Name); err != nil || string(b) != "keep me" {
		t.Errorf("file after refused Listen: %q, %v", b, err)
	}

	d := Addr{Name: t.TempDir()}
	_, err = Listen(d)
	if want := "memif: socket " + d.Name + ": exists and is not a socket (d---------)"; err == nil || err.Error() != want {
		t.Fatalf("Listen on a directory = %v, want %q", err, want)
	}
}

func TestListenMissingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing")
	a := Addr{Name: filepath.Join(dir, "memif.sock")}
	_, err := Listen(a)
	if err == nil || !errors.Is(err, syscall.ENOENT) ||
		!strings.HasPrefix(err.Error(), "memif: listen on "+a.Name+": directory "+dir+" does not exist: ") {
		t.Fatalf("Listen = %v", err)
	}
}

func TestListenCloseUnblocksAccept(t *testing.T) {
	t.Parallel()
	l := listen(t, abstractAddr(t))
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) || !strings.HasPrefix(err.Error(), "memif: accept on @") {
			t.Errorf("Accept = %v, want a net.ErrClosed naming the address", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Accept")
	}
}

func TestDialNoListener(t *testing.T) {
	t.Parallel()
	a := abstractAddr(t)
	_, err := Dial(context.Background(), a)
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.HasPrefix(err.Error(), "memif: dial "+a.String()+": ") {
		t.Errorf("Dial = %v, want ECONNREFUSED naming %s", err, a)
	}
	f := fileAddr(t)
	_, err = Dial(context.Background(), f)
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Dial(%s) = %v, want ENOENT", f, err)
	}
	if _, err := Dial(context.Background(), Addr{}); err == nil {
		t.Error("Dial of an empty address succeeded")
	}
}

// The socket file gets the mode, owner and group asked for; an abstract
// socket refuses them.
func TestListenConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "owned.sock")
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		uid, gid = 65534, 65533 // nobody, and a group nobody is in
	}
	l, err := ListenConfig{UID: uid, GID: gid, Perm: 0o660}.Listen(Addr{Name: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Mode&0o7777 != 0o660 {
		t.Errorf("socket file mode %#o, want a socket with 0660", st.Mode)
	}
	if uid != -1 && (st.Uid != uint32(uid) || st.Gid != uint32(gid)) {
		t.Errorf("socket file owner %d:%d, want %d:%d", st.Uid, st.Gid, uid, gid)
	}
	if uid == -1 {
		t.Log("not root: the owner change is not tested")
	}

	for _, c := range []struct {
		lc   ListenConfig
		addr Addr
		want string
	}{
		{ListenConfig{UID: -1, GID: -1, Perm: 0o600}, Addr{Name: "x", Abstract: true}, "memif: listen on @x: an abstract socket has no file, so it has no owner, group or mode to set"},
		{ListenConfig{UID: 0, GID: -1}, Addr{Name: "x", Abstract: true}, "memif: listen on @x: an abstract socket has no file"},
		{ListenConfig{UID: -1, GID: -1, Perm: 0o4660}, Addr{Name: path + "2"}, "mode 04660: only permission bits (at most 0777)"},
		{ListenConfig{UID: -2, GID: -1}, Addr{Name: path + "2"}, "owner -2 and group -1: want an id, or -1 to keep the process's"},
	} {
		if _, err := c.lc.Listen(c.addr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v.Listen(%s) = %v, want %q", c.lc, c.addr, err, c.want)
		}
	}
}
