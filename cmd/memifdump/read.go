package main

import (
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/memifpcap/memifpcap/capfile"
	"github.com/memifpcap/memifpcap/pcapfilter"
)

// stdin is what -r - reads; tests replace it.
var stdin io.Reader = os.Stdin

// readFile prints the frames of a pcap or pcapng file (told apart by
// content, optionally gzip-compressed; "-" is standard input), one line
// each, as the live capture prints them: memifdump -r is tcpdump -r.
//
// The file is read by package capfile, which checks every length against
// the file before allocating. Every line read before an error is printed
// (and flushed) before the error is returned, as tcpdump does; the error
// names the file and the packet. With -bpf, the program runs over each
// record as libpcap runs a filter on a saved file: a record it rejects (0)
// is not printed, one it accepts is printed cut to the length it returned.
func readFile(o *options, stdout io.Writer) error {
	r, err := openCapture(o.read)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := dropPrivileges(o.drop); err != nil {
		return err
	}
	lt, _ := r.LinkType()
	if err := o.compileExpr(pcapfilter.LinkType(lt)); err != nil {
		return err
	}
	var vm *bpf.VM
	if len(o.prog) > 0 {
		insns, ok := bpf.Disassemble(o.prog)
		if !ok {
			return fmt.Errorf("%s: not a classic BPF program", o.filterName())
		}
		if vm, err = bpf.NewVM(insns); err != nil {
			return fmt.Errorf("%s: %w", o.filterName(), err)
		}
	}
	if o.write != "" {
		return copyFiltered(o, r, vm, lt, stdout)
	}
	out := newTextSink(stdout, decoderFor(lt), o.text, o.flushEach)
	var p capfile.Packet
	for n := uint64(0); o.count == 0 || n < o.count; {
		err := r.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			// What was read is printed first, then the error.
			if cerr := out.close(); cerr != nil {
				return cerr
			}
			return err
		}
		data := p.Data
		ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(data), Length: p.Length, InterfaceIndex: p.Interface}
		if data = filtered(vm, data); data == nil {
			continue
		}
		ci.CaptureLength = len(data)
		n++
		if p.LinkType > 255 || p.LinkType == linkTypeUser0 {
			if err := out.writeRaw(ci, p.LinkType, data); err != nil {
				return err
			}
			continue
		}
		out.decoder = decoderFor(p.LinkType)
		if p.FCSLen > 0 && len(data) == len(p.Data) {
			// Decode the frame without its trailing FCS; the lengths
			// printed still count it, as tcpdump's do.
			data = data[:len(data)-p.FCSLen]
		}
		if err := out.writePacket(ci, data); err != nil {
			return err
		}
	}
	return out.close()
}

// linkTypeUser0 is LINKTYPE_USER0, memifpcap's label for the opaque
// frames of a punt/inject link: nothing to decode.
const linkTypeUser0 = 147

// decoderFor is gopacket's decoder for a link type. gopacket's LinkType is
// 8 bits wide: a link type above 255 must never be narrowed into one
// (LINKTYPE 257 would decode as Ethernet), so those are not decoded.
func decoderFor(lt uint32) gopacket.Decoder {
	if lt > 255 {
		return gopacket.DecodePayload
	}
	return layers.LinkType(lt)
}

// filtered runs the filter over a record, as libpcap runs one on a saved
// file: nil if it rejects the record, else the record cut to the length the
// program returned. Without a filter the record is kept whole.
func filtered(vm *bpf.VM, data []byte) []byte {
	if vm == nil {
		return data
	}
	keep, err := vm.Run(data)
	if err != nil || keep == 0 {
		// x/net/bpf reports a load out of bounds as an error; the kernel
		// and libpcap reject the packet.
		return nil
	}
	return data[:min(keep, len(data))]
}
