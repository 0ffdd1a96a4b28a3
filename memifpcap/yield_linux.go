package memifpcap

import "golang.org/x/sys/unix"

// yieldCPU gives the CPU to another runnable thread, of this process or
// another, if the kernel has one for it, and returns at once otherwise.
// A writer waiting for its peer to drain a ring calls it between polls: on
// a core of its own it costs a system call, and on a core it shares with
// the peer (more busy threads than CPUs) the peer gets to run.
func yieldCPU() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
