package ring

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// le16/le32 give the host-order bytes of a value, the way the C peers lay out
// their fields.
func le16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func mustRing(t testing.TB, mem []byte, cl int, log2 uint8) *Ring {
	t.Helper()
	r, err := NewRing(mem, cl, log2)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRingErrors(t *testing.T) {
	t.Parallel()
	mem := make([]byte, 4096)
	tests := []struct {
		name string
		mem  []byte
		cl   int
		log2 uint8
		want string
	}{
		{"short", mem[:128+16*8-1], 64, 3, "255 bytes of memory, a ring of 8 slots with a 64-byte cache line needs 256"},
		{"short for CL 128", mem[:256+16*8-1], 128, 3, "needs 384"},
		{"misaligned", mem[2:], 64, 3, "not 4-byte aligned"},
		{"cache line 32", mem, 32, 3, "cache line 32: must be 64 or 128"},
		{"log2 0", mem, 64, 0, "log2 ring size 0: must be 1..14"},
		{"log2 15", mem, 64, 15, "log2 ring size 15"},
		{"nil", nil, 64, 1, "0 bytes of memory"},
	}
	for _, tt := range tests {
		_, err := NewRing(tt.mem, tt.cl, tt.log2)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewRing error = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewRing(mem[:128+16*8], 64, 3); err != nil {
		t.Errorf("NewRing with exactly enough memory: %v", err)
	}
}

func TestRingInitBytes(t *testing.T) {
	t.Parallel()
	for _, cl := range []int{64, 128} {
		const log2 = 2
		size := RingBytes(cl, log2)
		mem := bytes.Repeat([]byte{0xAA}, size+8) // 8 bytes past the ring
		r := mustRing(t, mem, cl, log2)
		r.Init()

		want := bytes.Repeat([]byte{0xAA}, size+8)
		copy(want[0:], le32(Cookie))
		copy(want[4:], []byte{0, 0, 0, 0}) // flags, head
		copy(want[cl:], []byte{0, 0, 0, 0})
		clear(want[2*cl : size])
		if !bytes.Equal(mem, want) {
			t.Errorf("CL %d: after Init\n got %x\nwant %x", cl, mem, want)
		}
		if r.Cookie() != Cookie || r.Flags() != 0 || r.Head() != 0 || r.Tail() != 0 || r.Size() != 4 {
			t.Errorf("CL %d: cookie %#x flags %d head %d tail %d size %d", cl, r.Cookie(), r.Flags(), r.Head(), r.Tail(), r.Size())
		}
	}
}

func TestRingFieldOffsets(t *testing.T) {
	t.Parallel()
	for _, cl := range []int{64, 128} {
		const log2 = 3
		mem := make([]byte, RingBytes(cl, log2))
		r := mustRing(t, mem, cl, log2)
		r.SetFlags(0x0001)
		r.StoreHead(0x1234)
		r.StoreTail(0xBEEF)
		if got, want := mem[4:8], append(le16(0x0001), le16(0x1234)...); !bytes.Equal(got, want) {
			t.Errorf("CL %d: bytes 4..7 = %x, want %x", cl, got, want)
		}
		if got, want := mem[cl:cl+4], append(le16(0xBEEF), 0, 0); !bytes.Equal(got, want) {
			t.Errorf("CL %d: bytes %d..%d = %x, want %x", cl, cl, cl+3, got, want)
		}
		if r.Flags() != 1 || r.Head() != 0x1234 || r.Tail() != 0xBEEF {
			t.Errorf("CL %d: read back flags %#x head %#x tail %#x", cl, r.Flags(), r.Head(), r.Tail())
		}

		// Index 9 is slot 1 of an 8-slot ring.
		d := Desc{Flags: DescFlagNext, Region: 0x0102, Length: 0x03040506, Offset: 0x0708090a, Metadata: 0x0b0c0d0e}
		r.SetDesc(9, d)
		var want []byte
		want = append(want, le16(d.Flags)...)
		want = append(want, le16(d.Region)...)
		want = append(want, le32(d.Length)...)
		want = append(want, le32(d.Offset)...)
		want = append(want, le32(d.Metadata)...)
		off := 2*cl + 16
		if got := mem[off : off+16]; !bytes.Equal(got, want) {
			t.Errorf("CL %d: descriptor slot 1 at %d = %x, want %x", cl, off, got, want)
		}
		if got := r.Desc(1); got != d {
			t.Errorf("CL %d: Desc(1) = %+v, want %+v", cl, got, d)
		}
		if got := r.Desc(65529); got != d { // 65529 & 7 == 1
			t.Errorf("CL %d: Desc(65529) = %+v, want %+v", cl, got, d)
		}
		// The rest of the descriptor area is untouched.
		for i, b := range mem[2*cl:] {
			if (i < 16 || i >= 32) && b != 0 {
				t.Fatalf("CL %d: descriptor byte %d = %#x, want 0", cl, i, b)
			}
		}
		// setFlagsLength touches flags and length only.
		r.setFlagsLength(1, 0, 77)
		d.Flags, d.Length = 0, 77
		if got := r.Desc(1); got != d {
			t.Errorf("CL %d: after setFlagsLength Desc(1) = %+v, want %+v", cl, got, d)
		}
	}
}

func TestRingHeaderHalvesPreserved(t *testing.T) {
	t.Parallel()
	mem := make([]byte, RingBytes(64, 1))
	r := mustRing(t, mem, 64, 1)
	r.SetFlags(0xABCD)
	r.StoreHead(0x1111)
	if r.Flags() != 0xABCD {
		t.Errorf("StoreHead changed flags to %#x", r.Flags())
	}
	r.SetFlags(0x0001)
	if r.Head() != 0x1111 {
		t.Errorf("SetFlags changed head to %#x", r.Head())
	}
	r.StoreHead(0xFFFF)
	if r.Flags() != 0x0001 || r.Head() != 0xFFFF {
		t.Errorf("flags %#x head %#x, want 0x1 0xffff", r.Flags(), r.Head())
	}
	// storeHead returns the flags it kept.
	if f := r.storeHead(3); f != 1 {
		t.Errorf("storeHead returned flags %#x, want 0x1", f)
	}
}

// Two goroutines stand for the two processes on a C2S ring: the client
// storing head, the server storing flags, in the same word, for 100ms so that
// they overlap on both CPUs. Each is the only writer of its half, so any
// value other than its own last store is an update the other side lost.
func TestRingHeaderConcurrentHalves(t *testing.T) {
	t.Parallel()
	mem := make([]byte, RingBytes(64, 1))
	client := mustRing(t, mem, 64, 1)
	server := mustRing(t, mem, 64, 1)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var lastHead, lastFlags uint16
	var heads, flags int
	errs := make(chan string, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 1; !stop.Load() || i < 1000; i++ {
			lastHead = uint16(i)
			client.StoreHead(lastHead)
			if got := client.Head(); got != lastHead {
				errs <- fmt.Sprintf("head lost: stored %d, read %d", lastHead, got)
				return
			}
			heads++
		}
	}()
	go func() {
		defer wg.Done()
		for i := 1; !stop.Load() || i < 1000; i++ {
			lastFlags = uint16(i * 7)
			server.SetFlags(lastFlags)
			if got := server.Flags(); got != lastFlags {
				errs <- fmt.Sprintf("flags lost: stored %d, read %d", lastFlags, got)
				return
			}
			flags++
		}
	}()
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := client.Head(); got != lastHead {
		t.Errorf("final head %d, want %d", got, lastHead)
	}
	if got := client.Flags(); got != lastFlags {
		t.Errorf("final flags %d, want %d", got, lastFlags)
	}
	t.Logf("%d head stores, %d flags stores", heads, flags)
}

// Ring.descs views shared memory as []Desc: the struct must have
// memif_desc_t's layout on every architecture.
func TestDescLayout(t *testing.T) {
	var d Desc
	got := [...]uintptr{unsafe.Offsetof(d.Flags), unsafe.Offsetof(d.Region), unsafe.Offsetof(d.Length),
		unsafe.Offsetof(d.Offset), unsafe.Offsetof(d.Metadata), unsafe.Sizeof(d), unsafe.Alignof(d)}
	if want := [...]uintptr{0, 2, 4, 8, 12, DescSize, 4}; got != want {
		t.Fatalf("Desc offsets, size, alignment = %v, want %v", got, want)
	}
	mem := make([]byte, RingBytes(64, 1))
	r := mustRing(t, mem, 64, 1)
	r.SetDesc(1, Desc{Flags: 0x0102, Region: 0x0304, Length: 0x05060708, Offset: 0x090a0b0c, Metadata: 0x0d0e0f10})
	want := []byte{2, 1, 4, 3, 8, 7, 6, 5, 0xc, 0xb, 0xa, 9, 0x10, 0xf, 0xe, 0xd}
	if got := mem[128+16 : 128+32]; binary.NativeEndian.Uint16([]byte{1, 0}) == 1 && !bytes.Equal(got, want) {
		t.Fatalf("descriptor 1 in memory = % x, want % x", got, want)
	}
}
