// Command pcapcmp compares the frames of two capture files, byte for byte and
// in order, and says how many are identical:
//
//	pcapcmp WANT GOT
//	185 of 185 frames identical to testdata/pcaps/http-tcp.pcap
//
// Each file may be pcap (either byte order, micro- or nanosecond time
// stamps) or pcapng, told apart by its first bytes. Only the frames count:
// their bytes and their original (wire) length, not time stamps, link-layer
// headers of the file or pcapng options. demo.sh prints its line.
//
// Exit status: 0 when GOT holds exactly WANT's frames, 1 when they differ
// (the first difference is printed on standard error), 2 on bad usage or a
// file that cannot be read.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket/pcapgo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: pcapcmp WANT GOT")
		return 2
	}
	want, err := readFrames(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "pcapcmp: %v\n", err)
		return 2
	}
	got, err := readFrames(args[1])
	if err != nil {
		fmt.Fprintf(stderr, "pcapcmp: %v\n", err)
		return 2
	}
	same, diff := compare(want, got)
	fmt.Fprintf(stdout, "%d of %d frames identical to %s\n", same, len(want), args[0])
	if diff != "" {
		fmt.Fprintf(stderr, "pcapcmp: %s: %s\n", args[1], diff)
		return 1
	}
	return 0
}

// frame is one record: its captured bytes and its original length.
type frame struct {
	data []byte
	wire int
}

// compare counts the frames of got equal to want's at the same position and
// describes the first difference, "" if there is none.
func compare(want, got []frame) (same int, diff string) {
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		switch {
		case !bytes.Equal(w.data, g.data):
			if diff == "" {
				diff = fmt.Sprintf("frame %d: %d bytes, want %d%s", i+1, len(g.data), len(w.data), firstByte(w.data, g.data))
			}
		case w.wire != g.wire:
			if diff == "" {
				diff = fmt.Sprintf("frame %d: original length %d, want %d", i+1, g.wire, w.wire)
			}
		default:
			same++
		}
	}
	if diff == "" && len(want) != len(got) {
		diff = fmt.Sprintf("%d frames, want %d", len(got), len(want))
	}
	return same, diff
}

// firstByte names the first byte at which two frames differ.
func firstByte(want, got []byte) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf(", first difference at byte %d (%#02x, want %#02x)", i, got[i], want[i])
		}
	}
	return ""
}

// pcapngMagic is the block type of pcapng's Section Header Block, the first
// four bytes of every pcapng file in either byte order.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

func readFrames(name string) ([]frame, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic, err := r.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", name, err)
	}
	var next func() ([]byte, int, error)
	if bytes.Equal(magic, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%s: pcapng header: %w", name, err)
		}
		next = func() ([]byte, int, error) {
			d, ci, err := ng.ReadPacketData()
			return d, ci.Length, err
		}
	} else {
		pr, err := pcapgo.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", name, err)
		}
		next = func() ([]byte, int, error) {
			d, ci, err := pr.ReadPacketData()
			return d, ci.Length, err
		}
	}
	var frames []frame
	for {
		d, wire, err := next()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: record %d: %w", name, len(frames)+1, err)
		}
		frames = append(frames, frame{data: d, wire: wire})
	}
}
