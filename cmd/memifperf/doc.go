// Command memifperf is iperf for memif: a traffic generator, sink and
// reflector over one memif interface, for users measuring a memif link and
// for this project's benchmarks (bench/run).
//
//	memifperf -role server -socket /tmp/m.sock -mode sink -duration 10s
//	memifperf -role client -socket /tmp/m.sock -mode gen -size 64 -duration 5s
//
// Modes:
//
//	gen    send -size byte Ethernet/IPv4/UDP frames as fast as the link
//	       takes them, in batches of -batch (Handle.WriteBatch), for
//	       -duration; then wait until the peer took every frame (Drain),
//	       while it keeps taking them.
//	       Frames that come back (from a peer in echo mode) are counted.
//	sink   count what arrives (Handle.ReadBatch or PollBatch), until
//	       -duration has passed or the peer leaves after sending.
//	echo   send every frame back as it came, until -duration or the peer
//	       leaves.
//
// -pingpong (with -mode gen) sends one frame at a time and waits for it to
// come back from a peer in echo mode, measuring round-trip times.
//
// -rx-mode says how a receiver waits: poll busy-polls the ring and never
// sleeps (Handle.PollBatch: one CPU at 100 %, the lowest latency);
// adaptive and interrupt use Handle.ReadBatch, which polls a few dozen
// times and then asks the peer for an interrupt and sleeps on it. The
// Handle has no pure interrupt mode yet, so interrupt is adaptive.
//
// -read zerocopy, copy or into makes a sink read one frame per call with
// ZeroCopyReadPacketData, ReadPacketData or ReadPacketDataTo instead of
// batches, to compare the paths.
//
// -cpuprofile FILE writes a CPU profile of the run (go tool pprof).
//
// Start-up is memifdump's and memifinject's (-wait, default 10s): a client
// keeps trying while its server is not there yet (no socket, or "ID not
// found" as a starting testpmd answers), saying so once on standard error;
// a server waits -wait for its client and prints each client it refuses.
// 0 tries once, forever waits until stopped.
//
// SIGINT or SIGTERM ends the run at once, whatever it waits for; the
// frames still in the rings get a drain while the peer takes them (about
// 100 ms for one that takes none; a second signal skips it), and RESULT is
// printed, exit status 0. tx_pkts counts what the peer took: frames
// written that it never took (in the ring when the link went down or was
// closed) are said on standard error instead. So a generator's tx_pkts is
// what its sink received.
//
// -queues accepts only 1: a Handle has one ring per direction.
//
// Rates are measured from the first frame to the last frame sent or
// received (secs=), so a peer that starts late or leaves early does not
// dilute them. memifperf ends with one machine-readable line on standard
// output, the same keys for every mode:
//
//	RESULT role=client mode=gen len=64 secs=3.000 tx_pkts=123 rx_pkts=0 tx_mpps=0.000 rx_mpps=0.000
//
// and, for -pingpong, rtt_us_avg= and rtt_us_p99= (microseconds) at the
// end (and rtt_us_p50=, the median, after them). Progress and errors go to standard error. Exit status: 0 done, 1
// error, 2 usage.
package main
