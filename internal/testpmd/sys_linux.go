package testpmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

const supported = true

// openPTY returns a pseudo-terminal pair for testpmd's stdout and stderr.
// A terminal makes testpmd's stdio line-buffered: into a pipe it is
// block-buffered, and the answer to "show port stats 0" would surface only
// when testpmd exits. (The shell wrapper gets the same with stdbuf -oL.)
func openPTY() (master, slave *os.File, err error) {
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("open /dev/ptmx", err)
	}
	fail := func(op string, err error) (*os.File, *os.File, error) {
		unix.Close(m)
		return nil, nil, os.NewSyscallError(op, err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		return fail("ioctl TIOCSPTLCK", err)
	}
	// TIOCGPTPEER (Linux 4.13) opens the slave without a /dev/pts lookup,
	// which can name another devpts instance inside a container.
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	sfd := int(s)
	if errno != 0 {
		n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
		if err != nil {
			return fail("ioctl TIOCGPTN", err)
		}
		if sfd, err = unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
			return fail("open /dev/pts", err)
		}
	}
	// No output post-processing: "\n" stays "\n" instead of "\r\n".
	t, err := unix.IoctlGetTermios(sfd, unix.TCGETS)
	if err == nil {
		t.Oflag &^= unix.OPOST
		err = unix.IoctlSetTermios(sfd, unix.TCSETS, t)
	}
	if err != nil {
		unix.Close(sfd)
		return fail("ioctl TCSETS", err)
	}
	// Non-blocking, so os.NewFile puts the master on the runtime poller and
	// Close can interrupt a blocked Read.
	if err := unix.SetNonblock(m, true); err != nil {
		unix.Close(sfd)
		return fail("set nonblock", err)
	}
	return os.NewFile(uintptr(m), "/dev/ptmx"), os.NewFile(uintptr(sfd), "pty"), nil
}

// procAttr puts testpmd in its own process group, so Kill reaches every
// thread and nothing else, and has the kernel SIGKILL it if the thread that
// started it dies (the test binary crashing). Pdeathsig follows the starting
// OS thread, not the process; the EOF on testpmd's stdin covers the rest.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitNoReap blocks until process pid has exited, without reaping it, and
// reports whether it could wait. While the exited process is a zombie its
// pid, and so its process group id, cannot be reused: signalling the group
// until it is reaped cannot hit another process.
func waitNoReap(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}

// signalGroup sends sig to process group pgid.
func signalGroup(pgid int, sig syscall.Signal) error {
	return os.NewSyscallError("kill", unix.Kill(-pgid, sig))
}

// allowedCPUs lists the CPUs this process may run on, ascending.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// runtimeBase is the directory under which EAL creates its runtime
// directory <base>/<file-prefix>: like eal_create_runtime_dir(), /var/run
// for root, else $XDG_RUNTIME_DIR or /tmp, plus "dpdk".
func runtimeBase() string {
	dir := "/var/run"
	if os.Getuid() != 0 {
		dir = "/tmp"
		if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
			dir = x
		}
	}
	return filepath.Join(dir, "dpdk")
}

// pidGone reports whether no process pid exists.
func pidGone(pid int) bool {
	return errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}

// describeExit reads a wait status.
func describeExit(ps *os.ProcessState) (code int, signal string, crashed bool) {
	code = ps.ExitCode()
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return code, "", false
	}
	sig := ws.Signal()
	switch sig {
	case unix.SIGSEGV, unix.SIGBUS, unix.SIGABRT, unix.SIGILL, unix.SIGFPE, unix.SIGTRAP, unix.SIGSYS:
		crashed = true
	}
	name := unix.SignalName(sig)
	if name == "" {
		name = fmt.Sprintf("signal %d", int(sig))
	}
	return code, name, crashed
}
