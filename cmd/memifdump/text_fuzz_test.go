package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Any bytes, any link type memif carries, every printing flag: a line,
// never a panic. The seeds are frames of the shipped captures, whole and
// cut.
func FuzzTextSink(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/pcaps/*.pcap")
	for _, file := range files {
		fh, err := os.Open(file)
		if err != nil {
			f.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			f.Fatal(err)
		}
		for i := 0; ; i++ {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			if i%5 == 0 && len(data) > 14 {
				f.Add(data, uint8(0), uint16(len(data)))
				f.Add(data[14:], uint8(1), uint16(len(data)/2))
			}
		}
		fh.Close()
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, cut uint16) {
		lt := layers.LinkTypeEthernet
		if mode&1 != 0 {
			lt = layers.LinkTypeRaw
		}
		if int(cut) < len(data) {
			data = data[:cut]
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1e9, 0), CaptureLength: len(data), Length: len(data) + int(mode>>4)}
		for _, tf := range []textFormat{
			{},
			{link: true, verbose: 2, hexASCII: 2, number: true, stamp: tsDelta},
			{quiet: true, ascii: 1, stamp: tsEpoch, nano: true},
			{link: true, hex: 1, stamp: tsDate},
		} {
			s := newTextSink(io.Discard, lt, tf, false)
			if err := s.writePacket(ci, data); err != nil {
				t.Fatal(err)
			}
		}
	})
}
