package main

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"time"
)

// summary is what a replay did so far, printed in tcpreplay's layout
// (packet_stats() in tcpreplay's src/common/utils.c, and the per-device
// block of sendpacket_getstat()), so that scripts written for tcpreplay's
// output read ours:
//
//	Actual: 20 packets (2050 bytes) sent in 6.70 seconds
//	Rated: 305.6 Bps, 0.002 Mbps, 2.98 pps
//	Statistics for network device: memif /run/vpp/memif.sock id 0
//		Successful packets:          20
//		Failed packets:              0
//		Truncated packets:           0
//		Retried packets (ring full): 0
//		Delivered packets:           18
//		Lost packets:                2
//
// and, memif being able to say what happened to each frame after it left,
// what tcpreplay cannot: of the successful packets (written into the
// ring), how many the peer took (delivered), how many it never will
// (lost: in the ring when the link went down, or when memifinject closed
// it) and, in a -stats summary while the replay runs, how many are still
// in the ring ("Packets in flight:", only then). Successful = delivered +
// lost + in flight, always. Failed packets are writes that failed (the
// frame never entered the ring).
//
// As in tcpreplay, the seconds have two decimals from one second up and six
// below; Bps has one decimal; Mbps (10^6 bits) two, or three below 1 Mbps;
// pps two; every figure is truncated, not rounded. "Failed write attempts"
// appears, as there, only when a write failed. The labels are padded to
// the longest one, as tcpreplay pads to its "Retried packets (ENOBUFS): ".
type summary struct {
	packets   uint64 // frames written (into the ring)
	delivered uint64 // of them, taken by the peer
	lost      uint64 // never taken: the link went down, or was closed, with them in the ring
	inFlight  uint64 // still in the ring, not taken yet
	bytes     uint64 // their bytes, as sent (the captured length)
	elapsed   time.Duration
	failed    uint64 // writes that failed (ring full past -write-timeout, link down)
	truncated uint64 // records shorter than the original frame, sent as captured
	retried   uint64 // writes that found the ring full and waited
	skipped   uint64 // -strip-l2: Ethernet frames without IPv4 or IPv6, not sent
	stripL2   bool
	filtered  uint64 // left out by -include, -exclude or -direction
	filtering bool
	device    string // "memif SOCKET id N"
}

func (s *summary) writeTo(w io.Writer) error {
	us := uint64(max(s.elapsed, 0) / time.Microsecond)
	var bps10, pps100 uint64 // bytes/s ×10, packets/s ×100
	if us > 0 && s.packets > 0 && s.bytes > 0 {
		bps10 = mulDiv(s.bytes, 10_000_000, us)
		pps100 = mulDiv(s.packets, 100_000_000, us)
	}
	bps := bps10 / 10
	mbps1000 := bps * 8 / 1000 // Mbps ×1000, from the truncated Bps as tcpreplay does
	sec, frac := us/1_000_000, us%1_000_000
	var err error
	pr := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	if us >= 1_000_000 {
		pr("Actual: %d packets (%d bytes) sent in %d.%02d seconds\n", s.packets, s.bytes, sec, frac/10_000)
	} else {
		pr("Actual: %d packets (%d bytes) sent in %d.%06d seconds\n", s.packets, s.bytes, sec, frac)
	}
	if mbps1000 >= 1000 {
		pr("Rated: %d.%d Bps, %d.%02d Mbps, %d.%02d pps\n", bps, bps10%10, mbps1000/1000, mbps1000/10%100, pps100/100, pps100%100)
	} else {
		pr("Rated: %d.%d Bps, %d.%03d Mbps, %d.%02d pps\n", bps, bps10%10, mbps1000/1000, mbps1000%1000, pps100/100, pps100%100)
	}
	if s.failed > 0 {
		pr("Failed write attempts: %d\n", s.failed)
	}
	pr("Statistics for network device: %s\n", s.device)
	pr("\tSuccessful packets:          %d\n", s.packets)
	pr("\tFailed packets:              %d\n", s.failed)
	pr("\tTruncated packets:           %d\n", s.truncated)
	pr("\tRetried packets (ring full): %d\n", s.retried)
	pr("\tDelivered packets:           %d\n", s.delivered)
	pr("\tLost packets:                %d\n", s.lost)
	if s.inFlight > 0 {
		pr("\tPackets in flight:           %d\n", s.inFlight)
	}
	if s.stripL2 {
		pr("\tSkipped packets (not IP):    %d\n", s.skipped)
	}
	if s.filtering {
		pr("\tFiltered packets:            %d\n", s.filtered)
	}
	return err
}

// mulDiv is a·b/c, with a 128-bit product; a quotient past 64 bits
// saturates.
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}
