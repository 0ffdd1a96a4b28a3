package layersglue_test

import (
	"bytes"
	"math/rand"
	"net"
	"testing"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	layersglue "github.com/memifpcap/memifpcap/layers_glue"
)

// udpLayers returns the layers of an Ethernet/IPv4/UDP frame carrying n
// bytes of payload. Below 18 bytes of payload the Ethernet layer pads the
// frame to 60 bytes by appending.
func udpLayers(n int) []gopacket.SerializableLayer {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i*7 + n)
	}
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x02, 0, 0, 0x77, 0, 0x0a},
		DstMAC:       net.HardwareAddr{0x02, 0, 0, 0x77, 0, 0x0b},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{10, 77, 0, 1}, DstIP: net.IP{10, 77, 0, 2},
	}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return []gopacket.SerializableLayer{eth, ip, udp, gopacket.Payload(payload)}
}

var opts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

func serialize(t testing.TB, ls []gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// SerializeLayers into a slot gives the bytes gopacket's own buffer gives,
// in place when the frame fits the slot (padding appended in the tailroom)
// and in the staging buffer when it does not.
func TestSlotBufferSerializeLayers(t *testing.T) {
	slot := make([]byte, 2048)
	var b layersglue.SlotBuffer
	b.SetSlot(slot)
	for _, c := range []struct {
		payload int
		length  int
		inSlot  bool
	}{
		{0, 60, true},  // padded: 42 bytes of headers, 18 appended
		{17, 60, true}, // padded by one byte
		{18, 60, true}, // exactly 60, no padding
		{1000, 1042, true},
		{1942, 1984, true}, // fills the headroom exactly
		{1943, 1985, true}, // one byte more: moved back inside the slot
		{2006, 2048, true}, // the whole slot
		{2007, 2049, false},
		{8958, 9000, false},
		{100, 142, true}, // back in the slot after Clear
	} {
		ls := udpLayers(c.payload)
		want := serialize(t, ls)
		if err := gopacket.SerializeLayers(&b, opts, ls...); err != nil {
			t.Fatalf("payload %d: %v", c.payload, err)
		}
		got := b.Bytes()
		if len(want) != c.length || !bytes.Equal(got, want) {
			t.Fatalf("payload %d: %d bytes, want %d bytes identical to gopacket's buffer (%d)", c.payload, len(got), c.length, len(want))
		}
		if b.InSlot() != c.inSlot || b.Len() != c.length {
			t.Fatalf("payload %d: InSlot %v Len %d, want %v %d", c.payload, b.InSlot(), b.Len(), c.inSlot, c.length)
		}
		if c.inSlot && addr(got) != addr(slot[b.Offset():]) {
			t.Fatalf("payload %d: Bytes() is not slot[Offset():]", c.payload)
		}
		wantLayers := []gopacket.LayerType{gopacket.LayerTypePayload, layers.LayerTypeUDP, layers.LayerTypeIPv4, layers.LayerTypeEthernet}
		if got := b.Layers(); len(got) != 4 || got[0] != wantLayers[0] || got[3] != wantLayers[3] {
			t.Fatalf("payload %d: Layers() = %v, want %v", c.payload, got, wantLayers)
		}
	}
	// A frame built by prepending only ends DefaultTailroom before the
	// slot's end.
	ls := udpLayers(100)
	if err := gopacket.SerializeLayers(&b, opts, ls...); err != nil {
		t.Fatal(err)
	}
	if got, want := b.Offset(), 2048-layersglue.DefaultTailroom-142; got != want {
		t.Errorf("Offset() = %d, want %d", got, want)
	}
}

// Random sequences of PrependBytes, AppendBytes and Clear, against
// gopacket's own SerializeBuffer as the model.
func TestSlotBufferMatchesGopacket(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 300; round++ {
		slotLen := []int{0, 1, 63, 64, 65, 200, 2048}[round%7]
		slot := make([]byte, slotLen)
		var b layersglue.SlotBuffer
		if round%11 != 0 { // some rounds without a slot at all
			b.SetSlot(slot)
		}
		model := gopacket.NewSerializeBuffer()
		maxSeen := 0
		for op := 0; op < 40; op++ {
			n := rng.Intn(300)
			if rng.Intn(4) == 0 {
				n = rng.Intn(3)
			}
			var got, want []byte
			var err error
			switch rng.Intn(9) {
			case 0:
				b.Clear()
				model.Clear()
				maxSeen = 0
				continue
			case 1, 2, 3, 4:
				got, err = b.PrependBytes(n)
				want, _ = model.PrependBytes(n)
			default:
				got, err = b.AppendBytes(n)
				want, _ = model.AppendBytes(n)
			}
			if err != nil {
				t.Fatalf("round %d op %d: %v", round, op, err)
			}
			if len(got) != n || cap(got) != n {
				t.Fatalf("round %d op %d: %d bytes (cap %d), want %d", round, op, len(got), cap(got), n)
			}
			rng.Read(want)
			copy(got, want)
			if !bytes.Equal(b.Bytes(), model.Bytes()) {
				t.Fatalf("round %d op %d: frame differs from gopacket's buffer (%d vs %d bytes)", round, op, b.Len(), len(model.Bytes()))
			}
			maxSeen = max(maxSeen, b.Len())
			wantInSlot := b.Slot() != nil && maxSeen <= slotLen
			if b.InSlot() != wantInSlot {
				t.Fatalf("round %d op %d: InSlot() = %v with a %d-byte frame in a %d-byte slot", round, op, b.InSlot(), b.Len(), slotLen)
			}
			if b.InSlot() && b.Len() > 0 && addr(b.Bytes()) != addr(slot[b.Offset():]) {
				t.Fatalf("round %d op %d: in the slot but not at Offset()", round, op)
			}
		}
	}
}

func TestSlotBufferRefusesBadLengths(t *testing.T) {
	var b layersglue.SlotBuffer
	b.SetSlot(make([]byte, 100))
	if _, err := b.PrependBytes(-1); err == nil {
		t.Error("PrependBytes(-1) did not fail")
	}
	if _, err := b.AppendBytes(-5); err == nil {
		t.Error("AppendBytes(-5) did not fail")
	}
	if _, err := b.AppendBytes(10); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PrependBytes(1 << 62); err == nil {
		t.Error("PrependBytes(1<<62) did not fail")
	}
	if _, err := b.AppendBytes(1<<30 - 9); err == nil {
		t.Error("AppendBytes past 1 GiB did not fail")
	}
	if b.Len() != 10 || !b.InSlot() {
		t.Errorf("refused calls changed the frame: Len %d InSlot %v", b.Len(), b.InSlot())
	}
}

// After a first frame of each size, building frames does not allocate:
// in the slot, and in the staging buffer for frames larger than the slot.
func TestSlotBufferDoesNotAllocate(t *testing.T) {
	small, jumbo := udpLayers(100), udpLayers(8958)
	var b layersglue.SlotBuffer
	b.SetSlot(make([]byte, 2048))
	for _, ls := range [][]gopacket.SerializableLayer{small, jumbo} {
		if err := gopacket.SerializeLayers(&b, opts, ls...); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, ls := range [][]gopacket.SerializableLayer{small, jumbo} {
			if err := gopacket.SerializeLayers(&b, opts, ls...); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("SerializeLayers into a SlotBuffer: %v allocations per run, want 0", allocs)
	}
}

func TestSlotBufferReset(t *testing.T) {
	var b layersglue.SlotBuffer
	slot := make([]byte, 300)
	b.SetSlot(slot)
	if err := gopacket.SerializeLayers(&b, opts, udpLayers(10)...); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if b.Slot() != nil || b.InSlot() || b.Len() != 0 || len(b.Layers()) != 0 {
		t.Fatalf("after Reset: slot %v, InSlot %v, Len %d, %d layers", b.Slot() != nil, b.InSlot(), b.Len(), len(b.Layers()))
	}
	// Without a slot it is an ordinary buffer.
	ls := udpLayers(500)
	if err := gopacket.SerializeLayers(&b, opts, ls...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), serialize(t, ls)) || b.InSlot() {
		t.Fatal("a SlotBuffer without a slot did not build the frame gopacket builds")
	}
}
