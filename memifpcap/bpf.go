package memifpcap

import (
	"fmt"

	"golang.org/x/net/bpf"
)

var _ bpf.Setter = (*Handle)(nil)

// SetBPF installs a classic BPF filter, as tcpdump -ddd prints it, run in
// pure Go on every frame before a read returns it (memif has no kernel to
// run it). A frame the program rejects is released at once and counted in
// Stats().Filtered; a program that returns fewer bytes than the frame
// truncates the capture, as in the kernel. Linux's ancillary extensions
// (vlan_avail and friends) are not supported. SetBPF(nil) removes the
// filter. On a Handle it filters every receive queue; RxQueue.SetBPF
// filters one.
func (h *Handle) SetBPF(filter []bpf.RawInstruction) error {
	vm, err := compileBPF(filter)
	if err != nil {
		return err
	}
	for _, q := range h.rxq {
		q.setFilter(vm)
	}
	return nil
}

// SetBPF installs a classic BPF filter on this queue only; see
// Handle.SetBPF.
func (q *RxQueue) SetBPF(filter []bpf.RawInstruction) error {
	vm, err := compileBPF(filter)
	if err != nil {
		return err
	}
	q.setFilter(vm)
	return nil
}

func (q *RxQueue) setFilter(vm *bpf.VM) {
	q.filter.Store(vm)
}

func compileBPF(filter []bpf.RawInstruction) (*bpf.VM, error) {
	var vm *bpf.VM
	if len(filter) > 0 {
		insns, ok := bpf.Disassemble(filter)
		if !ok {
			for i, ins := range insns {
				if _, raw := ins.(bpf.RawInstruction); raw {
					return nil, fmt.Errorf("memif: BPF instruction %d (%#v) is not a classic BPF instruction this VM runs", i, filter[i])
				}
			}
		}
		var err error
		if vm, err = bpf.NewVM(insns); err != nil {
			return nil, fmt.Errorf("memif: BPF program: %w", err)
		}
	}
	return vm, nil
}

// filtered runs the filter on a packet and reports how many of its bytes
// to keep (0: drop it).
func (st *rxState) filtered(vm *bpf.VM, segs [][]byte, n int) int {
	data := segs[0]
	if len(segs) > 1 {
		if st.scratch == nil {
			st.scratch = make([]byte, st.snapLen)
		}
		data = st.scratch[:gather(st.scratch[:min(n, st.snapLen)], segs)]
	}
	keep, err := vm.Run(data)
	if err != nil {
		return 0
	}
	return keep
}
