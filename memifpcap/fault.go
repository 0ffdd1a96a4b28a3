package memifpcap

import (
	"runtime/debug"

	"github.com/memifpcap/memifpcap/control"
)

// Shared memory that the peer can shrink faults when touched.
//
// A server maps the memory its client offers. Copy-mode clients (DPDK,
// VPP, libmemif, gomemif, memifpcap) seal it against shrinking, but the
// zero-copy clients of DPDK and VPP hand over hugetlb memfds that cannot be
// sealed (VPP creates them without MFD_ALLOW_SEALING, src/vppinfra/linux/mem.c;
// DPDK's memseg fds carry F_SEAL_SEAL only). A client that truncates such a
// region under our mapping makes every access past the new end raise
// SIGBUS, which Go turns into a fatal error unless the goroutine asked
// for a panic instead (debug.SetPanicOnFault).
//
// So on a server every method that touches the peer's memory runs with
// faults turned into panics, recovers them, and ends the link with
// control.ReasonMemoryFault: a hostile or buggy client costs its link, never the
// process. A client only touches memory it created and sealed itself, and
// runs unguarded. What stays exposed is the caller's own use of the
// slices the zero-copy reads and a FrameWriter hand out: see Handle's
// documentation.

// guarded reports whether h's methods must guard their accesses to the
// peer's memory: a server's.
func (h *Handle) guarded() bool { return h.cfg.Role == RoleServer }

// isFault reports whether a recovered value is a memory fault turned into
// a panic by debug.SetPanicOnFault.
func isFault(r any) bool {
	_, ok := r.(interface{ Addr() uintptr })
	return ok
}

// endGuard is deferred by a method that touches the peer's memory after
// `old := debug.SetPanicOnFault(true)`: it restores the goroutine's
// setting and turns a memory fault into the end of the current session
// and an error wrapping ErrLinkDown in *err. Any other panic goes on.
func (h *Handle) endGuard(old bool, err *error) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if !isFault(r) {
			panic(r)
		}
		*err = faulted(h.sess.Load())
	}
}

// faulted ends session s (if not nil) after its memory faulted and
// returns the error for the caller.
func faulted(s *session) error {
	if s != nil {
		s.fail(control.ReasonMemoryFault, true)
	}
	return &linkDownError{reason: "the peer's memory faulted (a region shrunk under the mapping)"}
}

// touchPeer runs f with memory faults turned into panics and reports
// whether f faulted, for the paths that are not hot (handshake, teardown,
// drain). It does not end the session itself.
func touchPeer(f func()) (faulted bool) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if !isFault(r) {
				panic(r)
			}
			faulted = true
		}
	}()
	f()
	return false
}

// SealedMemory reports whether the peer cannot shrink any memory of the
// current link: always true on a client (it created and sealed the memory
// itself) and while the link is down; on a server, whether its client
// sealed every region against shrinking (DPDK's copy mode, libmemif and
// memifpcap do; the zero-copy clients of VPP and DPDK cannot).
//
// When it is false, a client that shrinks its memory makes the slices that
// ZeroCopyReadPacketData, ReadBatch and PollBatch returned, and a
// FrameWriter's slot, fault (SIGBUS) when touched. The library guards its
// own accesses and ends such a link with "Memory fault"; code that keeps
// using those slices should do the same (debug.SetPanicOnFault in the
// goroutine, and recover), copy a batch out with CopyIfUnsealed, or use
// the copying reads.
func (h *Handle) SealedMemory() bool {
	s := h.sess.Load()
	return s == nil || !s.unsealed
}
