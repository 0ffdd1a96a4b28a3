package ring

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fileID identifies the open file behind fd, so that a test can tell that
// fd was closed even if a parallel test reused the number at once.
type fileID struct{ dev, ino uint64 }

func idOf(t *testing.T, fd int) fileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return fileID{uint64(st.Dev), st.Ino}
}

// closed reports whether fd no longer refers to the file id.
func closed(fd int, id fileID) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errors.Is(err, unix.EBADF)
	}
	return (fileID{uint64(st.Dev), st.Ino}) != id
}

func dup(t *testing.T, fd int) int {
	t.Helper()
	d, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCreateAndMapRegion(t *testing.T) {
	t.Parallel()
	const size = 10000
	c, err := CreateRegion("memif_region_0", size)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Size() != size || len(c.Data) != size {
		t.Fatalf("Size() = %d, len(Data) = %d, want %d", c.Size(), len(c.Data), size)
	}
	var st unix.Stat_t
	if err := unix.Fstat(c.FD(), &st); err != nil || st.Size != size {
		t.Fatalf("fstat: size %d, err %v; want %d", st.Size, err, size)
	}
	seals, err := unix.FcntlInt(uintptr(c.FD()), unix.F_GET_SEALS, 0)
	if err != nil || seals&unix.F_SEAL_SHRINK == 0 {
		t.Fatalf("seals %#x, err %v: want F_SEAL_SHRINK", seals, err)
	}
	if err := unix.Ftruncate(c.FD(), size-1); !errors.Is(err, unix.EPERM) {
		t.Errorf("shrinking the sealed region: %v, want EPERM", err)
	}
	flags, err := unix.FcntlInt(uintptr(c.FD()), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd flags %#x, err %v: want FD_CLOEXEC", flags, err)
	}

	s, err := MapRegion(dup(t, c.FD()), size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	copy(c.Data[9990:], "from client")
	if got := string(s.Data[9990:]); got != "from clien" {
		t.Errorf("server mapping reads %q, want %q", got, "from clien")
	}
	copy(s.Data, "from server")
	if !bytes.HasPrefix(c.Data, []byte("from server")) {
		t.Errorf("client mapping reads %q", c.Data[:11])
	}

	// A smaller mapping of the same file is fine (the peer claims less).
	small, err := MapRegion(dup(t, c.FD()), 100, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(small.Data) != 100 || !bytes.HasPrefix(small.Data, []byte("from server")) {
		t.Errorf("small mapping: %d bytes %q", len(small.Data), small.Data[:11])
	}

	fd, id := small.FD(), idOf(t, small.FD())
	if err := small.Close(); err != nil {
		t.Fatal(err)
	}
	if small.FD() != -1 || small.Data != nil || !closed(fd, id) {
		t.Errorf("after Close: FD() = %d, Data nil %v, fd closed %v", small.FD(), small.Data == nil, closed(fd, id))
	}
	if err := small.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestMapRegionRefusals(t *testing.T) {
	t.Parallel()
	c, err := CreateRegion("memif_region_0", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := idOf(t, c.FD())

	// The peer claims more than the file holds.
	fd := dup(t, c.FD())
	_, err = MapRegion(fd, 4097, false)
	if err == nil || !strings.Contains(err.Error(), "region fd is 4096 bytes, peer claims 4097") {
		t.Errorf("MapRegion of a short fd: %v", err)
	}
	if !closed(fd, id) {
		t.Error("MapRegion did not close the fd it refused")
	}

	for _, size := range []uint64{0, 1 << 63} {
		fd = dup(t, c.FD())
		if _, err := MapRegion(fd, size, false); err == nil || !closed(fd, id) {
			t.Errorf("MapRegion(size %d): err %v, fd closed %v; want an error and the fd closed", size, err, closed(fd, id))
		}
	}
	if _, err := MapRegion(-1, 4096, false); err == nil || !strings.Contains(err.Error(), "invalid fd -1") {
		t.Errorf("MapRegion(-1): %v", err)
	}
	if _, err := CreateRegion("x", 0); err == nil || !strings.Contains(err.Error(), "size 0") {
		t.Errorf("CreateRegion(size 0): %v", err)
	}

	// Unsealed memfds: one that allows sealing but has none, and one
	// created without MFD_ALLOW_SEALING (its only seal is F_SEAL_SEAL).
	for _, flags := range []int{unix.MFD_ALLOW_SEALING, 0} {
		mfd, err := unix.MemfdCreate("unsealed", flags|unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Ftruncate(mfd, 4096); err != nil {
			t.Fatal(err)
		}
		fd, id := dup(t, mfd), idOf(t, mfd)
		_, err = MapRegion(fd, 4096, true)
		if err == nil || !strings.Contains(err.Error(), "not sealed with F_SEAL_SHRINK") || !strings.Contains(err.Error(), "SIGBUS") {
			t.Errorf("MapRegion of an unsealed memfd (flags %#x) with requireSeal: %v", flags, err)
		}
		if !closed(fd, id) {
			t.Error("refused unsealed fd was not closed")
		}
		// Without requireSeal it maps (DPDK zero-copy regions are
		// hugetlbfs files that cannot be sealed).
		r, err := MapRegion(mfd, 4096, false)
		if err != nil {
			t.Errorf("MapRegion of an unsealed memfd without requireSeal: %v", err)
			continue
		}
		r.Close()
	}

	// Something that has no seals at all.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	pid := idOf(t, p[0])
	if _, err := MapRegion(p[0], 4096, true); err == nil {
		t.Error("MapRegion of a pipe succeeded")
	}
	if !closed(p[0], pid) {
		t.Error("refused pipe fd was not closed")
	}
}
