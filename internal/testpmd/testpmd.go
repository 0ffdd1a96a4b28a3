package testpmd

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// DefaultTimeout bounds Start, and every wait whose context has no deadline.
// Startup takes under a second on a quiet machine and up to several seconds
// when other busy-polling processes share the CPUs.
const DefaultTimeout = 30 * time.Second

// DefaultPath is where Debian's dpdk-dev package installs testpmd.
const DefaultPath = "/usr/bin/dpdk-testpmd"

// ReasonNotLogged is what HandshakeFailure reports on a DPDK server that
// rejected a client: DPDK 22.11's server sends the reason in its DISCONNECT
// message but logs it only for "ID not found", so the client side (Go or
// DPDK) is where the reason ("Incorrect secret", "Secret required", ...)
// can be read.
const ReasonNotLogged = "rejected by the DPDK server; reason sent to the client, not logged"

// Errors returned by this package; match them with errors.Is.
var (
	// ErrNotInstalled: no dpdk-testpmd binary (see Path).
	ErrNotInstalled = errors.New("dpdk-testpmd not installed")
	// ErrInvalidConfig: a Config field is out of range or cannot be passed
	// to testpmd; the message names the field.
	ErrInvalidConfig = errors.New("invalid testpmd config")
	// ErrSocketInUse: a server was asked for a socket that already has a
	// listener.
	ErrSocketInUse = errors.New("memif socket already has a listener")
	// ErrSetup: testpmd printed a setup error while starting (EAL, vdev
	// probe, memif socket, port start); the message quotes the line.
	ErrSetup = errors.New("testpmd setup failed")
	// ErrExited: testpmd is no longer running.
	ErrExited = errors.New("testpmd exited")
	// ErrCrashed: testpmd was killed by a crash signal (SIGSEGV, SIGBUS,
	// SIGABRT, ...). Errors matching ErrCrashed also match ErrExited.
	ErrCrashed = errors.New("testpmd crashed")
	// ErrHandshake: a DPDK client's memif handshake failed; DPDK's client
	// never retries, so its link will not come up.
	ErrHandshake = errors.New("memif handshake failed")
	// ErrStopped: the Peer was stopped; it accepts no more commands.
	ErrStopped = errors.New("testpmd peer stopped")
)

// Path returns the dpdk-testpmd binary to run, or "" if there is none. The
// environment variable TESTPMD overrides the default: a path, or a name
// looked up in PATH. Without it, dpdk-testpmd is looked up in PATH, then at
// DefaultPath.
func Path() string {
	if v := os.Getenv("TESTPMD"); v != "" {
		p, err := exec.LookPath(v)
		if err != nil {
			return ""
		}
		return p
	}
	if p, err := exec.LookPath("dpdk-testpmd"); err == nil {
		return p
	}
	if fi, err := os.Stat(DefaultPath); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return DefaultPath
	}
	return ""
}

// Require returns Path, or skips the test when testpmd is absent or the
// platform cannot run it, saying how to install it. With the environment
// variable MEMIFPCAP_REQUIRE_TESTPMD=1 (as CI sets it) it fails the test
// instead of skipping.
func Require(t testing.TB) string {
	t.Helper()
	// CI sets MEMIFPCAP_REQUIRE_TESTPMD=1: there a missing peer is a
	// failure, never a silent skip.
	skip := t.Skip
	skipf := t.Skipf
	if os.Getenv("MEMIFPCAP_REQUIRE_TESTPMD") == "1" {
		skip = func(args ...any) { t.Fatal(append([]any{"MEMIFPCAP_REQUIRE_TESTPMD=1: "}, args...)...) }
		skipf = func(format string, args ...any) { t.Fatalf("MEMIFPCAP_REQUIRE_TESTPMD=1: "+format, args...) }
	}
	if !supported {
		skip("testpmd: dpdk-testpmd interop tests need Linux")
	}
	p := Path()
	if p == "" {
		if v := os.Getenv("TESTPMD"); v != "" {
			skipf("testpmd: TESTPMD=%q is not an executable", v)
		}
		skip("testpmd: dpdk-testpmd not found in PATH or at " + DefaultPath +
			"; install it with: apt-get install --no-install-recommends dpdk-dev" +
			" (Debian/Ubuntu; it also brings the memif PMD), or set TESTPMD")
	}
	return p
}

// Config describes one testpmd instance with one memif port (port 0).
// Zero values mean the documented defaults.
type Config struct {
	Role   string // "server" or "client": the memif role of testpmd (required)
	Socket string // control socket: a filesystem path, or "@name" for an abstract socket
	ID     uint32 // memif interface id
	Secret string // shared secret, at most 23 bytes ("" = none)
	BSize  int    // memif buffer size, 1..65535 (0 = DPDK default 2048)
	RSize  int    // log2 of the ring size, 1..14 (0 = DPDK default 10)
	Queues int    // queue pairs = rings per direction, 1..255 (0 = 1)
	// ZeroCopy makes a client offer its DPDK memory as memif regions
	// (devarg zero-copy=yes, and the EAL flag --single-file-segments it
	// needs): region 0 holds the rings only, region 1 the memseg list the
	// mbufs live in. Client only; DPDK ignores it for a server.
	ZeroCopy bool
	Forward  string // testpmd forward mode: rxonly, txonly, io, macswap, ... ("" = rxonly)
	TxPktLen int    // txonly frame length, 42..16384 (--txpkts); 0 = testpmd default (64)
	// MbufSize is testpmd's --mbuf-size: the mbuf data room including its
	// 128-byte headroom, 129..65535 (0 = testpmd default 2176). A TxPktLen
	// frame is generated as a chain of mbufs of MbufSize-128 bytes each, so
	// a 9000-byte frame in one mbuf needs MbufSize >= 9128.
	MbufSize int
	// Cores is the EAL --lcores value. testpmd needs two lcores (main and
	// forwarding). Default: both on the first CPU this process may use for a
	// server, both on the second for a client (the first on a 1-CPU box), so
	// two busy-polling peers do not share a CPU.
	Cores string
	// Log, if set, receives testpmd's output as it is read, one line per
	// Write, with carriage returns and ANSI escape sequences removed. It is
	// called from the Peer's reader goroutine, never after Stop returns.
	Log io.Writer
	// ExtraEAL are extra EAL arguments (before "--"), e.g. another --vdev
	// such as net_pcap0 bridged with ExtraApp "--port-topology=paired".
	ExtraEAL []string
	// ExtraApp are extra testpmd application arguments (after "--").
	ExtraApp []string
}

// Stats are port 0's counters from "show port stats 0". DPDK's memif PMD
// sums them over the rings of the current connection: they read 0 while the
// link is down and reappear, cumulative, on reconnect. TxBytes over-counts a
// little under load (DPDK adds the bytes of frames it then rolls back on a
// full ring).
type Stats struct {
	RxPackets, RxBytes, RxMissed, RxErrors uint64
	TxPackets, TxBytes, TxErrors           uint64
}

// Result is how a testpmd instance ended.
type Result struct {
	ExitCode int    // exit status, -1 if killed by a signal
	Signal   string // the killing signal ("SIGSEGV", "SIGKILL", ...), or ""
	Crashed  bool   // killed by a crash signal (SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGTRAP, SIGSYS)
	// Final is the last "show port stats 0" block testpmd printed; Stop asks
	// for one just before it stops forwarding. It reads 0 if the link was
	// down then (see Stats).
	Final Stats
	// From the last "Forward statistics for port 0" block ("stop", from
	// StopForwarding or Stop): packets the forwarding engine received and
	// sent since "start", and frames it could not enqueue (in txonly mode
	// tx-dropped counts a full ring, not loss).
	FwdRxPackets, FwdTxPackets, FwdTxDropped uint64
}
