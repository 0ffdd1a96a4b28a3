package memifpcap

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/memifpcap/memifpcap/pcapfilter"
)

// SetFilter installs a filter written in tcpdump's expression language
// (pcap-filter(7): "udp port 53", "vlan and tcp[tcpflags] & tcp-syn !=
// 0"), compiled in pure Go by package pcapfilter for the Handle's link
// type and snap length, as SetBPF installs a program compiled elsewhere.
// An error names the token and its position; numeric addresses only (no
// name resolution). SetFilter("") removes the filter.
func (h *Handle) SetFilter(expr string) error {
	prog, err := h.compileFilter(expr)
	if err != nil {
		return err
	}
	return h.SetBPF(prog)
}

// SetFilter installs a filter expression on this queue only; see
// Handle.SetFilter.
func (q *RxQueue) SetFilter(expr string) error {
	prog, err := q.h.compileFilter(expr)
	if err != nil {
		return err
	}
	return q.SetBPF(prog)
}

func (h *Handle) compileFilter(expr string) ([]bpf.RawInstruction, error) {
	if expr == "" {
		return nil, nil
	}
	prog, err := pcapfilter.CompileRaw(expr, pcapfilter.LinkType(h.LinkType()), h.SnapLen())
	if err != nil {
		return nil, fmt.Errorf("memif: filter %q: %w", expr, err)
	}
	return prog, nil
}
