// Package testpmd runs DPDK's dpdk-testpmd as a real, third-party memif peer
// for interop tests, entirely from Go: it builds the command line, starts
// testpmd interactively with its stdin on a pipe only this package writes,
// reads its console and memif debug log in one goroutine, turns them into
// events (link up, link down, handshake failures) and statistics, and stops
// it with a bounded escalation (stop/quit, EOF, SIGINT, SIGKILL), reporting
// a crash as a crash.
//
// Typical use, testpmd as the memif server receiving what a Go client sends:
//
//	testpmd.Require(t)
//	p, err := testpmd.Start(ctx, testpmd.Config{Role: "server", Socket: sock})
//	...
//	p.StartForwarding()
//	// ... connect the Go client, p.WaitConnected(ctx), send frames ...
//	p.StopForwarding()       // before the Go side leaves: see bug 1 below
//	st, _ := p.Stats(ctx)    // while the link is still up: see bug 3 below
//	// ... close the Go client ...
//	res, err := p.Stop()
//
// Tested against Debian 12's DPDK 22.11.11 (package dpdk-dev, which pulls in
// the memif PMD librte-net-memif23) without hugepages. Its memif PMD has bugs
// an interop test must plan around:
//
//  1. testpmd can die with SIGSEGV when its PEER disconnects (about 5-10 % of
//     disconnects, with or without traffic): memif_disconnect() unmaps the
//     regions while the forwarding lcore may still poll the rings. Let the
//     DPDK side end the session (Stop it first), or call StopForwarding
//     before the other side leaves, so no lcore polls the rings. Stop reports
//     the crash as an error matching ErrCrashed; treat it as this bug when
//     the peer had just left.
//  2. Copy-mode TX corrupts descriptor chains (frames longer than the memif
//     buffer): a stale NEXT flag glues frames together, and a k-buffer frame
//     meeting k-1 free slots overruns the ring. For exact jumbo-frame tests
//     give the buffer-owning side (the client) a BSize of at least the frame
//     length, and testpmd a MbufSize that holds the frame in one mbuf.
//  3. memif port counters read 0 while the link is down, and "Forward
//     statistics" with them. Sample Stats while the link is up.
//  4. DPDK's client connects once, when its port starts (inside Start), and
//     never reconnects: start the server first; a client Peer serves one
//     session. DPDK's server keeps listening and accepts the next client.
//  5. A stale socket file makes DPDK's server fail with EADDRINUSE while
//     testpmd keeps running without a port; Start removes one first.
//  6. On quit DPDK closes the control socket without a DISCONNECT message;
//     its peer sees only EOF. Its server logs the reason of a rejected
//     handshake only for "ID not found" (see ReasonNotLogged).
//  7. A DPDK server can send (S2C) only after the client has posted buffers
//     on its first receive poll: start sending about a second after link up.
//
// This package is an independent oracle: it must never import the memif
// implementation it tests (control, ring, memifpcap), nor anything beyond
// the standard library and golang.org/x/sys.
package testpmd
