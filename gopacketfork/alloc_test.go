package gopacketfork_test

import (
	"fmt"
	"testing"

	"github.com/memifpcap/memifpcap/gopacketfork"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// Converting to the fork's CaptureInfo adds no allocation to memifpcap's
// allocation-free paths: a zero-copy read (of a small frame and of a
// chain) with its AncillaryData, a read into the caller's buffer, a batch
// read through Message, and the same on an RxQueue.
func TestForkPathsDoNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	srv, cli := pair(t, memifpcap.Config{}, memifpcap.Config{})
	small, jumbo := udpFrame(t, 1, 18), udpFrame(t, 2, 8958)
	buf := make([]byte, 9000)
	ms := make([]gopacketfork.Message, 8)
	q := srv.RxQueue(0)
	cases := []struct {
		name string
		f    func() error
	}{
		{"write+zero-copy read 60", func() error {
			if err := cli.WritePacketData(small); err != nil {
				return err
			}
			data, ci, err := srv.ZeroCopyReadPacketData()
			if err == nil && (len(data) != 60 || len(ci.AncillaryData) != 2) {
				err = fmt.Errorf("read %d bytes, AncillaryData %v", len(data), ci.AncillaryData)
			}
			return err
		}},
		{"write+zero-copy read 9000 (chain)", func() error {
			if err := cli.WritePacketData(jumbo); err != nil {
				return err
			}
			data, _, err := srv.ZeroCopyReadPacketData()
			if err == nil && len(data) != 9000 {
				err = fmt.Errorf("read %d bytes", len(data))
			}
			return err
		}},
		{"write+read-to 9000", func() error {
			if err := cli.WritePacketData(jumbo); err != nil {
				return err
			}
			ci, err := srv.ReadPacketDataTo(buf)
			if err == nil && ci.CaptureLength != 9000 {
				err = fmt.Errorf("read %d bytes", ci.CaptureLength)
			}
			return err
		}},
		{"write 8+batch read", func() error {
			for i := 0; i < 8; i++ {
				if err := cli.WritePacketData(small); err != nil {
					return err
				}
			}
			for got := 0; got < 8; {
				n, err := srv.ReadBatch(ms[:8-got])
				if err != nil {
					return err
				}
				got += n
			}
			return nil
		}},
		{"write+queue zero-copy read", func() error {
			if err := cli.WritePacketData(small); err != nil {
				return err
			}
			_, _, err := q.ZeroCopyReadPacketData()
			return err
		}},
		{"write 8+queue batch read", func() error {
			for i := 0; i < 8; i++ {
				if err := cli.WritePacketData(jumbo); err != nil {
					return err
				}
			}
			for got := 0; got < 8; {
				n, err := q.ReadBatch(ms[:8-got])
				if err != nil {
					return err
				}
				got += n
			}
			return nil
		}},
	}
	for _, tc := range cases {
		// Warm up: the gather buffer, the batch slices and their Buffers.
		for i := 0; i < 2; i++ {
			if err := tc.f(); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		var err error
		allocs := testing.AllocsPerRun(500, func() {
			if e := tc.f(); e != nil {
				err = e
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per run, want 0", tc.name, allocs)
		}
	}
}
