package ring

import (
	"runtime"
	"strings"
	"testing"
)

func TestRingBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cl   int
		log2 uint8
		want int
	}{
		{64, 10, 128 + 16384},
		{128, 10, 256 + 16384},
		{64, 1, 128 + 32},
		{128, 14, 256 + 16<<14},
	}
	for _, tt := range tests {
		if got := RingBytes(tt.cl, tt.log2); got != tt.want {
			t.Errorf("RingBytes(%d, %d) = %d, want %d", tt.cl, tt.log2, got, tt.want)
		}
	}
}

// The numbers of FDio/vpp#627: a VPP slave with 1+1 rings of 1024 slots and a
// 64-byte cache line has its S2C (M2S) ring at 16512 and its buffers at 33024.
func TestLayoutVPP627(t *testing.T) {
	t.Parallel()
	l := Layout{CacheLine: 64, Log2RingSize: 10, NumC2S: 1, NumS2C: 1, BufferSize: 2048}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"RingOffset(C2S, 0)", uint64(l.RingOffset(C2S, 0)), 0},
		{"RingOffset(S2C, 0)", uint64(l.RingOffset(S2C, 0)), 16512},
		{"BufferBase", uint64(l.BufferBase()), 33024},
		{"BufferOffset(C2S, 0, 0)", uint64(l.BufferOffset(C2S, 0, 0)), 33024},
		{"BufferOffset(C2S, 0, 1)", uint64(l.BufferOffset(C2S, 0, 1)), 33024 + 2048},
		{"BufferOffset(C2S, 0, 1023)", uint64(l.BufferOffset(C2S, 0, 1023)), 33024 + 1023*2048},
		{"BufferOffset(S2C, 0, 0)", uint64(l.BufferOffset(S2C, 0, 0)), 33024 + 1024*2048},
		{"BufferOffset(S2C, 0, 5)", uint64(l.BufferOffset(S2C, 0, 5)), 33024 + 1029*2048},
		{"RegionSize", l.RegionSize(), 33024 + 2048*2048},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

func TestLayoutCacheLine128(t *testing.T) {
	t.Parallel()
	l := Layout{CacheLine: 128, Log2RingSize: 10, NumC2S: 1, NumS2C: 1, BufferSize: 2048}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := l.RingOffset(S2C, 0), uint32(256+16384); got != want {
		t.Errorf("RingOffset(S2C, 0) = %d, want %d", got, want)
	}
	if got, want := l.BufferBase(), uint32(2*(256+16384)); got != want {
		t.Errorf("BufferBase = %d, want %d", got, want)
	}
	if got, want := l.RegionSize(), uint64(33280+2048*2048); got != want {
		t.Errorf("RegionSize = %d, want %d", got, want)
	}
}

func TestLayoutManyRings(t *testing.T) {
	t.Parallel()
	// 2 C2S + 3 S2C rings of 4 slots, 64-byte cache line: each ring takes
	// 128 + 64 = 192 bytes.
	l := Layout{CacheLine: 64, Log2RingSize: 2, NumC2S: 2, NumS2C: 3, BufferSize: 100}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"RingOffset(C2S, 1)", uint64(l.RingOffset(C2S, 1)), 192},
		{"RingOffset(S2C, 0)", uint64(l.RingOffset(S2C, 0)), 384},
		{"RingOffset(S2C, 2)", uint64(l.RingOffset(S2C, 2)), 768},
		{"BufferBase", uint64(l.BufferBase()), 960},
		{"BufferOffset(C2S, 1, 2)", uint64(l.BufferOffset(C2S, 1, 2)), 960 + (1*4+2)*100},
		{"BufferOffset(S2C, 1, 3)", uint64(l.BufferOffset(S2C, 1, 3)), 960 + ((2+1)*4+3)*100},
		{"BufferOffset(S2C, 2, 3)", uint64(l.BufferOffset(S2C, 2, 3)), 960 + 19*100},
		{"RegionSize", l.RegionSize(), 960 + 20*100},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// DPDK and VPP compute the buffer number in a u16, which wraps beyond 65536
// buffers (VPP commit 00e9fe6ca77). 256+256 rings of 1024 slots make 524288.
func TestLayoutNoU16Wrap(t *testing.T) {
	t.Parallel()
	l := Layout{CacheLine: 64, Log2RingSize: 10, NumC2S: 256, NumS2C: 256, BufferSize: 8}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	base := uint64(512 * 16512)
	if got := uint64(l.BufferBase()); got != base {
		t.Fatalf("BufferBase = %d, want %d", got, base)
	}
	// Buffer number (256+100)*1024 + 7 = 364551; in a u16 it would be 36871.
	if got, want := uint64(l.BufferOffset(S2C, 100, 7)), base+364551*8; got != want {
		t.Errorf("BufferOffset(S2C, 100, 7) = %d, want %d", got, want)
	}
	if got, want := l.RegionSize(), base+512*1024*8; got != want {
		t.Errorf("RegionSize = %d, want %d", got, want)
	}
}

func TestLayoutValidate(t *testing.T) {
	t.Parallel()
	good := Layout{CacheLine: 64, Log2RingSize: 10, NumC2S: 1, NumS2C: 1, BufferSize: 2048}
	tests := []struct {
		name string
		edit func(*Layout)
		want string // substring of the error, "" = valid
	}{
		{"good", func(*Layout) {}, ""},
		{"cache line 128", func(l *Layout) { l.CacheLine = 128 }, ""},
		{"cache line 32", func(l *Layout) { l.CacheLine = 32 }, "cache line 32: must be 64 or 128"},
		{"cache line 0", func(l *Layout) { l.CacheLine = 0 }, "cache line 0"},
		{"log2 0", func(l *Layout) { l.Log2RingSize = 0 }, "log2 ring size 0: must be 1..14"},
		{"log2 1", func(l *Layout) { l.Log2RingSize = 1 }, ""},
		{"log2 14", func(l *Layout) { l.Log2RingSize = 14 }, ""},
		{"log2 15", func(l *Layout) { l.Log2RingSize = 15 }, "log2 ring size 15"},
		{"no C2S", func(l *Layout) { l.NumC2S = 0 }, "0 C2S rings: must be 1..256"},
		{"negative C2S", func(l *Layout) { l.NumC2S = -1 }, "-1 C2S rings"},
		{"257 C2S", func(l *Layout) { l.NumC2S = 257 }, "257 C2S rings"},
		{"256 S2C", func(l *Layout) { l.NumS2C = 256 }, ""},
		{"no S2C", func(l *Layout) { l.NumS2C = 0 }, "0 S2C rings: must be 1..256"},
		{"257 S2C", func(l *Layout) { l.NumS2C = 257 }, "257 S2C rings"},
		{"buffer 0", func(l *Layout) { l.BufferSize = 0 }, "buffer size 0: must be 1..65535"},
		{"buffer 65535", func(l *Layout) { l.BufferSize = 65535 }, ""},
		{"buffer 65536", func(l *Layout) { l.BufferSize = 65536 }, "buffer size 65536"},
		// 256+256 rings of 16384 slots take 512*262272 = 134283264 bytes,
		// and 8388608 buffers follow: 495 bytes each end at 4286644224,
		// 496 at 4295032832, just past 2^32 = 4294967296.
		{"495-byte buffers fit", func(l *Layout) {
			l.Log2RingSize, l.NumC2S, l.NumS2C, l.BufferSize = 14, 256, 256, 495
		}, ""},
		{"496-byte buffers do not", func(l *Layout) {
			l.Log2RingSize, l.NumC2S, l.NumS2C, l.BufferSize = 14, 256, 256, 496
		}, "region of 4295032832 bytes: offsets are u32"},
	}
	for _, tt := range tests {
		l := good
		tt.edit(&l)
		err := l.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: Validate() = nil, want error containing %q", tt.name, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: Validate() = %q, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestDirectionString(t *testing.T) {
	t.Parallel()
	for d, want := range map[Direction]string{C2S: "C2S", S2C: "S2C", 7: "Direction(7)"} {
		if got := d.String(); got != want {
			t.Errorf("Direction(%d).String() = %q, want %q", uint8(d), got, want)
		}
	}
	for r, want := range map[Role]string{Client: "client", Server: "server", 9: "Role(9)"} {
		if got := r.String(); got != want {
			t.Errorf("Role(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
}

func TestDefaultCacheLine(t *testing.T) {
	t.Parallel()
	want := 64
	if runtime.GOARCH == "arm64" {
		want = 128
	}
	if got := DefaultCacheLine(); got != want {
		t.Errorf("DefaultCacheLine() = %d on %s, want %d", got, runtime.GOARCH, want)
	}
}
