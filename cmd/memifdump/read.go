package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// pcapngMagic starts a pcapng file (its Section Header Block type); a pcap
// file starts with one of the classic magic numbers instead.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// readFile prints the frames of a pcap or pcapng file (told apart by
// content), one line each, as the live capture prints them: memifdump -r
// is tcpdump -r.
func readFile(o *options, stdout io.Writer) error {
	f, err := os.Open(o.read)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		return fmt.Errorf("%s: not a pcap or pcapng file (%d bytes)", o.read, len(magic))
	}
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var lt layers.LinkType
	if bytes.Equal(magic, pcapngMagic) {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return fmt.Errorf("%s: %w", o.read, err)
		}
		src, lt = r, r.LinkType()
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: not a pcap or pcapng file: %w", o.read, err)
		}
		src, lt = r, r.LinkType()
	}
	out := newTextSink(stdout, lt, o.nano, o.flushEach)
	for n := uint64(1); o.count == 0 || n <= o.count; n++ {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: packet %d: %w", o.read, n, err)
		}
		if err := out.writePacket(ci, data); err != nil {
			return err
		}
	}
	return out.close()
}
