package memifpcap

import (
	"errors"
	"fmt"
	"os"

	"github.com/memifpcap/memifpcap/ring"
)

var (
	// ErrTimeout is returned by a read that waited ReadTimeout, or a write
	// that waited WriteTimeout, without success.
	// errors.Is(ErrTimeout, os.ErrDeadlineExceeded) is true, and it is a
	// net.Error whose Timeout reports true.
	ErrTimeout error = timeoutError{}

	// ErrLinkDown is returned (wrapped with the reason) once by a read when
	// the memif link went down, and by writes while it is down. It is never
	// io.EOF: a client reconnects and a server accepts the next client, so
	// reading may go on. Reads after Close return io.EOF.
	ErrLinkDown = errors.New("memif: link down")

	// ErrClosed is returned by writes on a closed Handle.
	ErrClosed = errors.New("memif: handle closed")

	// ErrNoQueue is returned by writes to a transmit queue that the link
	// does not carry: a server's client offered fewer rings than the
	// server has queues.
	ErrNoQueue = errors.New("memif: queue not connected")

	// ErrEmptyFrame is wrapped by the error of a write of an empty frame:
	// memif cannot describe one to DPDK or VPP.
	ErrEmptyFrame = ring.ErrEmptyFrame

	// ErrFrameTooLarge is wrapped by the error of a write of a frame that
	// needs more descriptors than the whole ring has.
	ErrFrameTooLarge = ring.ErrFrameTooLarge

	errBadRxMode = errors.New("unknown rx mode")
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "memif: timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded
}

// BatchError is WriteBatch's error for a message it refused for good (an
// empty or oversized frame, a bad descriptor from the peer): Index is the
// message, Err what a single write of it would have returned. The messages
// before Index were sent.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("memif: write batch: message %d: %v", e.Index, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// linkDownError carries why the link went down.
type linkDownError struct{ reason string }

func (e *linkDownError) Error() string { return fmt.Sprintf("memif: link down: %s", e.reason) }
func (e *linkDownError) Unwrap() error { return ErrLinkDown }
