package main

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"github.com/memifpcap/memifpcap/capfile"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// copyFiltered is -r FILE -w OUT: the records the filter accepts (all of
// them without one), cut to the length it returns, written to OUT in pcap
// or pcapng, as `tcpdump -r FILE -w OUT EXPR` writes them: the way to cut
// a capture down to what matters.
func copyFiltered(o *options, r *capfile.Reader, vm *bpf.VM, lt uint32, stdout io.Writer) error {
	if lt > 255 {
		return fmt.Errorf("%s: link type %d: gopacket's writers take link types up to 255", o.read, lt)
	}
	var written uint64
	s := &fileSink{
		pattern:   o.write,
		stdout:    stdout,
		ng:        o.ng,
		nano:      o.nano,
		flushEach: o.flushEach,
		linkType:  layers.LinkType(lt),
		snapLen:   o.snapLen,
		intf: pcapgo.NgInterface{
			Name:                o.read,
			Description:         fmt.Sprintf("read from %s by memifdump -r", o.read),
			OS:                  runtime.GOOS,
			LinkType:            layers.LinkType(lt),
			SnapLength:          uint32(o.snapLen),
			TimestampResolution: 9,
		},
		stats: func() memifpcap.Stats { return memifpcap.Stats{Packets: written} },
	}
	if o.expr != "" {
		s.intf.Filter = o.expr
	}
	if err := s.open(time.Now()); err != nil {
		s.close()
		return err
	}
	var p capfile.Packet
	for o.count == 0 || written < o.count {
		err := r.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			// What was read is written first, then the error.
			if cerr := s.close(); cerr != nil {
				return cerr
			}
			return err
		}
		if p.LinkType != lt {
			s.close()
			return fmt.Errorf("%s: packet %d: link type %d, not the file's first %d: one output file has one", o.read, p.Number, p.LinkType, lt)
		}
		data := filtered(vm, p.Data)
		if data == nil {
			continue
		}
		ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(data), Length: p.Length}
		if err := s.writePacket(ci, data); err != nil {
			s.close()
			return err
		}
		written++
	}
	return s.close()
}
