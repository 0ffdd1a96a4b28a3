// Command memifinject replays pcap and pcapng files into a memif link, as
// tcpreplay replays them onto a network interface.
//
//	memifinject [flags] FILE...
//
// First it checks every file, before connecting: the format (pcap in
// either byte order with micro- or nanosecond timestamps, or pcapng, told
// apart by the first bytes, gzip-compressed or not), the link type against
// -mode (Ethernet for ethernet, raw IPv4/IPv6 for ip), and every record:
// whole, not empty, and small enough for the ring (a frame takes one
// -buffer-size buffer per chunk, and a chain cannot be longer than
// -ring-size). Any fault ends the run with the file, the packet number
// and what is wrong, and nothing is sent. -no-verify checks only headers
// and link types, so that a huge file starts at once; a bad record then
// stops the replay where it is, saying how many packets went before.
//
// Then it opens the interface, as memifdump and memifperf do: a client
// keeps trying, every 100 ms for up to -wait (default 10s; 0 tries once,
// forever waits until stopped), while the server is not there yet (no
// socket, or a server that answers "ID not found", as DPDK's testpmd does
// until its port starts), saying once on stderr that it waits and each
// refusal it meets; a server waits up to -wait for its client, and prints
// a line for each client it refuses ("refused client: Incorrect secret
// (id 0, "name")"). Then it sends the packets of each file in
// order, -loop times, until -limit packets or -duration. Pacing is
// tcpreplay's: the capture's own gaps (divided by -multiplier), or a fixed
// -pps, or a fixed -mbps over the bytes sent, or -topspeed. Each packet has
// a due time on a schedule from the first packet; the sender sleeps only
// when more than 100 µs ahead and spins for shorter gaps, and sends the
// packets a late wakeup made due back to back, so the rate holds at high
// packet rates. The capture's timing restarts at each file and loop (its
// first packet goes at once); a fixed rate holds across them. A snapped
// record (captured length below the original) is sent as captured and
// counted as truncated. A ring that stays full for -write-timeout (the
// peer takes nothing) fails the run instead of hanging it. After the last
// frame memifinject waits until the peer has taken every frame still in
// the ring, since closing the link would drop them; a peer that takes no
// frame for -write-timeout then fails the run too, naming how many it
// never took.
//
// SIGINT or SIGTERM stops at once whatever memifinject is doing or
// waiting for (a server, the link, room in a full ring, even with
// -write-timeout 0); the frames already in the ring are then drained
// while the peer keeps taking them (given up about 100 ms after it takes
// none; a second signal gives up at once, a third kills memifinject), and
// the summary is printed.
//
// At the end, and every -stats seconds, it prints tcpreplay's summary on
// stdout, with what memif tells beyond tcpreplay: of the frames sent
// (successful: written into the ring), how many the peer took (delivered)
// and how many it never will (lost: in the ring when the link went down or
// was closed). Successful = delivered + lost; a -stats summary while the
// replay runs also counts "Packets in flight:" in the ring.
//
//	Actual: 1000 packets (98000 bytes) sent in 0.999001 seconds
//	Rated: 98097.9 Bps, 0.784 Mbps, 1000.99 pps
//	Statistics for network device: memif /run/vpp/memif.sock id 0
//		Successful packets:          1000
//		Failed packets:              0
//		Truncated packets:           0
//		Retried packets (ring full): 0
//		Delivered packets:           1000
//		Lost packets:                0
//
// Exit status: 0 when every packet was sent (or on SIGINT/SIGTERM, after
// the summary, also when the signal came before the link was up: a line
// says what it interrupted), 1 on bad input or a runtime error, 2 on bad
// usage. Run
// memifinject -h for the flags.
package main

import (
	"os"

	"github.com/memifpcap/memifpcap/internal/memifflag"
)

func main() {
	ctx, release := memifflag.Signals()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	release()
	os.Exit(code)
}
