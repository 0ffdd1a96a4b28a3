//go:build !linux

package ring

import (
	"errors"
	"time"
)

// memif's shared memory is Linux memfds and its interrupts eventfds; on
// other systems the package documents and vets, and these say so at run
// time. The Linux implementations are region_linux.go and eventfd_linux.go.

var errNotSupported = errors.New("memif: not supported on this system (memif needs Linux memfds and eventfds)")

// Region is one memif region mapped into this process (Linux only).
type Region struct {
	Data   []byte
	Sealed bool
}

// CreateRegion is not supported outside Linux.
func CreateRegion(name string, size uint64) (*Region, error) { return nil, errNotSupported }

// MapRegion is not supported outside Linux.
func MapRegion(fd int, size uint64, requireSeal bool) (*Region, error) {
	return nil, errNotSupported
}

// FD returns -1.
func (r *Region) FD() int { return -1 }

// Size returns 0.
func (r *Region) Size() uint64 { return 0 }

// Close does nothing.
func (r *Region) Close() error { return nil }

// EventFD is a memif interrupt (Linux only).
type EventFD struct{}

// NewEventFD is not supported outside Linux.
func NewEventFD() (*EventFD, error) { return nil, errNotSupported }

// EventFDFrom is not supported outside Linux.
func EventFDFrom(fd int) (*EventFD, error) { return nil, errNotSupported }

// FD returns -1.
func (e *EventFD) FD() int { return -1 }

// Signal is not supported outside Linux.
func (e *EventFD) Signal() error { return errNotSupported }

// Wait is not supported outside Linux.
func (e *EventFD) Wait(time.Duration) error { return errNotSupported }

// Drain does nothing.
func (e *EventFD) Drain() {}

// Close does nothing.
func (e *EventFD) Close() error { return nil }
