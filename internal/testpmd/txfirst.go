package testpmd

import (
	"context"
	"fmt"
)

// StartForwardingTxFirst sends "start tx_first N": before forwarding, the
// port sends N bursts of txonly frames (64 bytes, or TxPktLen), so that two
// forwarding peers (io, macswap) facing each other keep those frames going
// round both ways. It waits for testpmd to acknowledge it, as
// StartForwarding does.
func (p *Peer) StartForwardingTxFirst(bursts int) error {
	if bursts < 1 {
		bursts = 1
	}
	started := func() uint64 { return p.st.fwdStarted }
	if err := p.ack(context.Background(), fmt.Sprintf("start tx_first %d", bursts), started, started); err != nil {
		return fmt.Errorf("testpmd: start tx_first: %w", err)
	}
	return nil
}
