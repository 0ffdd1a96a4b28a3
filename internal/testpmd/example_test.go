package testpmd_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/memifpcap/memifpcap/internal/testpmd"
)

// Two testpmd instances: a client generating 64-byte frames into a server
// that counts them. Forwarding is stopped on both sides before the client
// quits, so neither side polls the rings when the link goes down.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := testpmd.Start(ctx, testpmd.Config{Role: "server", Socket: "@example", Forward: "rxonly"})
	if err != nil {
		log.Fatal(err)
	}
	cli, err := testpmd.Start(ctx, testpmd.Config{Role: "client", Socket: "@example", Forward: "txonly", TxPktLen: 64})
	if err != nil {
		log.Fatal(err)
	}
	if err := cli.WaitConnected(ctx); err != nil {
		log.Fatal(err) // e.g. ErrHandshake, with cli.HandshakeFailure() as the reason
	}
	srv.StartForwarding()
	cli.StartForwarding()
	time.Sleep(time.Second)
	srv.StopForwarding()
	cli.StopForwarding()
	st, _ := srv.Stats(ctx) // while the link is up: DPDK reads 0 once it is down
	log.Printf("server received %d frames", st.RxPackets)

	cli.Stop()
	res, err := srv.Stop()
	if errors.Is(err, testpmd.ErrCrashed) {
		log.Printf("DPDK 22.11 crashed on the disconnect: %+v", res)
	}
}
