package ring

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Region is one memif region mapped into this process: shared memory holding
// rings and/or packet buffers. The client creates regions (CreateRegion) and
// passes their fds in ADD_REGION; the server maps what it receives
// (MapRegion).
type Region struct {
	// Data is the mapping. It must not be used after Close: the memory is
	// unmapped and any access faults.
	Data []byte

	// Sealed reports whether the region's file is sealed against
	// shrinking (F_SEAL_SHRINK). An unsealed region can be truncated by
	// the peer under our mapping; touching it past the new end then
	// faults with SIGBUS (see MapRegion).
	Sealed bool

	mu   sync.Mutex
	fd   int
	size uint64
}

// checkRegionSize rejects sizes mmap cannot take in one piece.
func checkRegionSize(size uint64) error {
	if size == 0 {
		return errors.New("size 0")
	}
	if size > math.MaxInt {
		return fmt.Errorf("size %d does not fit in an int", size)
	}
	return nil
}

// CreateRegion creates a region as every memif client does:
// memfd_create(name, MFD_ALLOW_SEALING|MFD_CLOEXEC), ftruncate to size, then
// F_SEAL_SHRINK so that the server may trust the size it maps (a shrunk file
// would fault the server with SIGBUS), then mmap(MAP_SHARED, read/write).
func CreateRegion(name string, size uint64) (*Region, error) {
	if err := checkRegionSize(size); err != nil {
		return nil, fmt.Errorf("memif region %q: %w", name, err)
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_ALLOW_SEALING|unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memif region %q: %w", name, os.NewSyscallError("memfd_create", err))
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memif region %q: size %d: %w", name, size, os.NewSyscallError("ftruncate", err))
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memif region %q: seal against shrinking: %w", name, os.NewSyscallError("fcntl(F_ADD_SEALS)", err))
	}
	r, err := mapRegion(fd, size)
	if err != nil {
		return nil, fmt.Errorf("memif region %q: %w", name, err)
	}
	r.Sealed = true
	return r, nil
}

// MapRegion maps a region fd received from the client in ADD_REGION, size
// being the size the client claims. It takes ownership of fd and closes it on
// error too. Before mapping it checks that the file really holds size bytes
// (mapping more than the file would fault with SIGBUS on access) and, if
// requireSeal is set, that the file is sealed against shrinking: an unsealed
// file could be truncated by the client under our mapping later, with the
// same SIGBUS. Copy-mode regions of DPDK, VPP, libmemif and gomemif are
// sealed memfds; the zero-copy regions of DPDK and VPP clients are hugetlb
// memfds created without MFD_ALLOW_SEALING, which cannot be sealed. The
// region's Sealed field says which it is, so that a caller that maps
// unsealed regions can guard its accesses.
func MapRegion(fd int, size uint64, requireSeal bool) (*Region, error) {
	if fd < 0 {
		return nil, fmt.Errorf("memif region: invalid fd %d", fd)
	}
	if err := checkRegionSize(size); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memif region fd %d: peer claims %w", fd, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("memif region fd %d: %w", fd, os.NewSyscallError("fstat", err))
	}
	if st.Size < 0 || uint64(st.Size) < size {
		unix.Close(fd)
		return nil, fmt.Errorf("memif region fd %d: region fd is %d bytes, peer claims %d", fd, st.Size, size)
	}
	seals, serr := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	sealed := serr == nil && seals&unix.F_SEAL_SHRINK != 0
	if requireSeal {
		if err := serr; err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("memif region fd %d: cannot read its seals (not a memfd?), and an unsealed region could be shrunk under our mapping and fault with SIGBUS: %w",
				fd, os.NewSyscallError("fcntl(F_GET_SEALS)", err))
		}
		if seals&unix.F_SEAL_SHRINK == 0 {
			unix.Close(fd)
			return nil, fmt.Errorf("memif region fd %d: not sealed with F_SEAL_SHRINK (seals %#x): the peer could shrink it under our mapping and we would fault with SIGBUS", fd, seals)
		}
	}
	r, err := mapRegion(fd, size)
	if err != nil {
		return nil, fmt.Errorf("memif region fd %d: %w", fd, err)
	}
	r.Sealed = sealed
	return r, nil
}

// mapRegion maps fd (closing it on error) and wraps it in a Region.
func mapRegion(fd int, size uint64) (*Region, error) {
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%d bytes: %w", size, os.NewSyscallError("mmap", err))
	}
	return &Region{Data: data, fd: fd, size: size}, nil
}

// FD returns the region's file descriptor (the one ADD_REGION carries), or
// -1 after Close.
func (r *Region) FD() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fd
}

// Size returns the mapped size in bytes.
func (r *Region) Size() uint64 { return r.size }

// Close unmaps the region and closes its fd. Nobody may use Data (or rings
// and views inside it) any more. Calling it again does nothing.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return nil
	}
	var errs []error
	if r.Data != nil {
		if err := unix.Munmap(r.Data); err != nil {
			errs = append(errs, os.NewSyscallError("munmap", err))
		}
		r.Data = nil
	}
	if err := unix.Close(r.fd); err != nil {
		errs = append(errs, os.NewSyscallError("close", err))
	}
	r.fd = -1
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("memif region: close: %w", err)
	}
	return nil
}
