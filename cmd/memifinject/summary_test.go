package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSummaryFormat checks the layout against real tcpreplay outputs: the
// first three lines of each case are what tcpreplay printed for the same
// counts (its elapsed time recovered to the microsecond from its rates);
// the delivered, lost and in-flight lines are memif's own, after
// tcpreplay's.
func TestSummaryFormat(t *testing.T) {
	for _, c := range []struct {
		s    summary
		want string
	}{
		{ // tcpreplay --topspeed, 4.x, over a second: 2 decimals, ≥ 1 Mbps
			summary{packets: 805892, delivered: 805892, bytes: 364635582, elapsed: 3231425 * time.Microsecond, device: "memif /run/vpp/memif.sock id 0"},
			"Actual: 805892 packets (364635582 bytes) sent in 3.23 seconds\n" +
				"Rated: 112840490.4 Bps, 902.72 Mbps, 249392.14 pps\n" +
				"Statistics for network device: memif /run/vpp/memif.sock id 0\n" +
				"\tSuccessful packets:          805892\n" +
				"\tFailed packets:              0\n" +
				"\tTruncated packets:           0\n" +
				"\tRetried packets (ring full): 0\n" +
				"\tDelivered packets:           805892\n" +
				"\tLost packets:                0\n",
		},
		{ // one packet in 221 µs: six decimals below a second
			summary{packets: 1, lost: 1, bytes: 42, elapsed: 221*time.Microsecond + 999, device: "memif @x id 7"},
			"Actual: 1 packets (42 bytes) sent in 0.000221 seconds\n" +
				"Rated: 190045.2 Bps, 1.52 Mbps, 4524.88 pps\n" +
				"Statistics for network device: memif @x id 7\n" +
				"\tSuccessful packets:          1\n" +
				"\tFailed packets:              0\n" +
				"\tTruncated packets:           0\n" +
				"\tRetried packets (ring full): 0\n" +
				"\tDelivered packets:           0\n" +
				"\tLost packets:                1\n",
		},
		{ // below 1 Mbps: three decimals; a failure adds tcpreplay's line
			summary{packets: 20, delivered: 17, lost: 2, inFlight: 1, bytes: 2050, elapsed: 6708 * time.Millisecond, failed: 1, truncated: 3, retried: 12, device: "memif s id 1"},
			"Actual: 20 packets (2050 bytes) sent in 6.70 seconds\n" +
				"Rated: 305.6 Bps, 0.002 Mbps, 2.98 pps\n" +
				"Failed write attempts: 1\n" +
				"Statistics for network device: memif s id 1\n" +
				"\tSuccessful packets:          20\n" +
				"\tFailed packets:              1\n" +
				"\tTruncated packets:           3\n" +
				"\tRetried packets (ring full): 12\n" +
				"\tDelivered packets:           17\n" +
				"\tLost packets:                2\n" +
				"\tPackets in flight:           1\n",
		},
		{ // nothing sent
			summary{device: "memif s id 0"},
			"Actual: 0 packets (0 bytes) sent in 0.000000 seconds\n" +
				"Rated: 0.0 Bps, 0.000 Mbps, 0.00 pps\n" +
				"Statistics for network device: memif s id 0\n" +
				"\tSuccessful packets:          0\n" +
				"\tFailed packets:              0\n" +
				"\tTruncated packets:           0\n" +
				"\tRetried packets (ring full): 0\n" +
				"\tDelivered packets:           0\n" +
				"\tLost packets:                0\n",
		},
		{ // 4 TB in 1000 s: bytes·10^7 overflows 64 bits, so it is done in 128
			summary{packets: 5_000_000_000, delivered: 5_000_000_000, bytes: 4_000_000_000_000, elapsed: 1000 * time.Second, device: "d"},
			"Actual: 5000000000 packets (4000000000000 bytes) sent in 1000.00 seconds\n" +
				"Rated: 4000000000.0 Bps, 32000.00 Mbps, 5000000.00 pps\n" +
				"Statistics for network device: d\n" +
				"\tSuccessful packets:          5000000000\n" +
				"\tFailed packets:              0\n" +
				"\tTruncated packets:           0\n" +
				"\tRetried packets (ring full): 0\n" +
				"\tDelivered packets:           5000000000\n" +
				"\tLost packets:                0\n",
		},
	} {
		var b bytes.Buffer
		require.NoError(t, c.s.writeTo(&b))
		require.Equal(t, c.want, b.String())
	}
}
