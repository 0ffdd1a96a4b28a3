package ring_test

import (
	"bytes"
	"fmt"

	"github.com/memifpcap/memifpcap/ring"
)

// A client sends two frames on its C2S ring and a server receives them. Both
// sides live in this process and share one block of memory that stands for
// the client's region 0; across processes the client would CreateRegion and
// the server MapRegion the fd it received.
func Example() {
	l := ring.Layout{CacheLine: 64, Log2RingSize: 4, NumC2S: 1, NumS2C: 1, BufferSize: 2048}
	if err := l.Validate(); err != nil {
		panic(err)
	}
	region0 := make([]byte, l.RegionSize())

	// Client: initialise the ring, then produce.
	clientRing, _ := ring.NewRing(region0[l.RingOffset(ring.C2S, 0):], l.CacheLine, l.Log2RingSize)
	clientRing.Init()
	tx, _ := ring.NewTx(clientRing, ring.Config{
		Role:       ring.Client,
		Regions:    [][]byte{region0},
		BufferSize: l.BufferSize,
		BufferBase: l.BufferOffset(ring.C2S, 0, 0),
	})

	// Server: its own view of the ring at the offset ADD_RING announced.
	serverRing, _ := ring.NewRing(region0[l.RingOffset(ring.C2S, 0):], l.CacheLine, l.Log2RingSize)
	rx, _ := ring.NewRx(serverRing, ring.Config{Role: ring.Server, Regions: [][]byte{region0}})
	rx.Reset()
	rx.SetInterrupt(false) // the server polls

	tx.Write([]byte("hello"))
	tx.Write(bytes.Repeat([]byte{'x'}, 5000)) // three buffers of 2048
	fmt.Println("signal the eventfd:", tx.Publish())

	var segs [4][]byte
	for {
		p, n, err := rx.Next(segs[:0])
		if err == ring.ErrNoPacket {
			break
		}
		fmt.Printf("packet of %d bytes in %d descriptors\n", n, len(p))
	}
	rx.Release()
	fmt.Println("slots in flight:", tx.InFlight())
	// Output:
	// signal the eventfd: false
	// packet of 5 bytes in 1 descriptors
	// packet of 5000 bytes in 3 descriptors
	// slots in flight: 0
}
