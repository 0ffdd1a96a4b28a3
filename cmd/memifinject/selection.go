package main

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/memifpcap/memifpcap/capfile"
	"github.com/memifpcap/memifpcap/pcapfilter"
)

// selection is which frames of the captures are replayed, and on which
// queue: -include and -exclude (tcpdump filter expressions, compiled by
// pcapfilter for each frame's link type), -direction (one side of a tap
// capture, by pcapng's epb_flags) and -queue capture (each frame on the
// queue it was recorded on, pcapng's epb_queue).
type selection struct {
	include, exclude string
	dir              capfile.Direction // 0: both
	byCapture        bool              // -queue capture
	txQueues         int

	// The programs of the last link type seen: captures have one or
	// two, so a cache of one is enough.
	lt       uint32
	compiled bool
	in, ex   *bpf.VM
}

// filters reports whether some frames may be left out.
func (s *selection) filters() bool {
	return s.include != "" || s.exclude != "" || s.dir != 0
}

// check compiles the expressions for link type lt, to report a bad one
// before anything is sent.
func (s *selection) check(lt uint32) error {
	return s.compile(lt)
}

func (s *selection) compile(lt uint32) error {
	if s.compiled && s.lt == lt {
		return nil
	}
	var err error
	if s.in, err = vmFor("-include", s.include, lt); err != nil {
		return err
	}
	if s.ex, err = vmFor("-exclude", s.exclude, lt); err != nil {
		return err
	}
	s.lt, s.compiled = lt, true
	return nil
}

func vmFor(flag, expr string, lt uint32) (*bpf.VM, error) {
	if expr == "" {
		return nil, nil
	}
	insns, err := pcapfilter.Compile(expr, pcapfilter.LinkType(lt), 262144)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", flag, expr, err)
	}
	return bpf.NewVM(insns)
}

// keep reports whether p is replayed.
func (s *selection) keep(p *packet) (bool, error) {
	if s.dir != 0 && p.dir != s.dir {
		return false, nil
	}
	if s.include == "" && s.exclude == "" {
		return true, nil
	}
	if err := s.compile(p.linkType); err != nil {
		return false, err
	}
	if s.in != nil && !accepts(s.in, p.data) {
		return false, nil
	}
	return s.ex == nil || !accepts(s.ex, p.data), nil
}

// accepts runs a filter as libpcap does on a saved file: an error (a load
// past the end) rejects.
func accepts(vm *bpf.VM, data []byte) bool {
	n, err := vm.Run(data)
	return err == nil && n > 0
}

// queue returns the transmit queue -queue capture sends p on.
func (s *selection) queue(p *packet) (int, string) {
	switch {
	case p.queue < 0:
		return 0, "has no queue (pcapng epb_queue): -queue capture replays captures that record one, such as the memif tap's"
	case p.queue >= s.txQueues:
		return 0, fmt.Sprintf("was recorded on queue %d and the link has %d transmit queues (-tx-queues)", p.queue, s.txQueues)
	}
	return p.queue, ""
}
