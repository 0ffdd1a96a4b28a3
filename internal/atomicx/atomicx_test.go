package atomicx

import (
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// Bump's cast: an atomic.Uint64 is its value and nothing else.
func TestUint64Layout(t *testing.T) {
	var c atomic.Uint64
	if s := unsafe.Sizeof(c); s != 8 {
		t.Fatalf("atomic.Uint64 is %d bytes", s)
	}
	c.Store(0x0123456789abcdef)
	if v := *(*uint64)(unsafe.Pointer(&c)); v != 0x0123456789abcdef {
		t.Fatalf("first word %#x", v)
	}
}

func TestStores(t *testing.T) {
	var w struct {
		a uint32
		b uint32
		c uint64
		d uint64
	}
	w.b, w.d = 0xB, 0xD
	StoreRelease32(&w.a, 0xdeadbeef)
	StoreRelease64(&w.c, 0x0102030405060708)
	if w.a != 0xdeadbeef || w.b != 0xB || w.c != 0x0102030405060708 || w.d != 0xD {
		t.Fatalf("%#x", w)
	}
}

// A reader sees a bumped counter only grow, and the writer's last value.
func TestBump(t *testing.T) {
	var c atomic.Uint64
	const n = 100000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			Bump(&c, 3)
		}
	}()
	last := uint64(0)
	for last != 3*n {
		v := c.Load()
		if v < last || v%3 != 0 {
			t.Fatalf("read %d after %d", v, last)
		}
		last = v
	}
	wg.Wait()
}
