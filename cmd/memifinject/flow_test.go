//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// flowFrame is Ethernet/IPv4/UDP of flow f (source port 1000+f; flows of
// odd f between another pair of addresses) carrying seq.
func flowFrame(t testing.TB, f, seq int) []byte {
	src, dst := net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}
	if f%2 == 1 {
		src, dst = net.IP{10, 0, 1, byte(f)}, net.IP{10, 0, 2, 1}
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
	udp := &layers.UDP{SrcPort: layers.UDPPort(1000 + f), DstPort: 53}
	_ = udp.SetNetworkLayerForChecksum(ip)
	p := make([]byte, 8)
	binary.BigEndian.PutUint32(p, uint32(f))
	binary.BigEndian.PutUint32(p[4:], uint32(seq))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, udp, gopacket.Payload(p)))
	return append([]byte(nil), buf.Bytes()...)
}

// TestReplayQueues: -tx-queues 4 into a server with 4 receive queues:
// every frame arrives, each flow on one queue and in order, and the flows
// spread over more than one queue.
func TestReplayQueues(t *testing.T) {
	const flows, each = 16, 40
	var rs []record
	for i := range each {
		for f := range flows {
			rs = append(rs, record{ts: epoch.Add(time.Duration(len(rs)) * time.Microsecond), data: flowFrame(t, f, i)})
		}
	}
	file := filepath.Join(t.TempDir(), "flows.pcap")
	writePcap(t, file, false, layers.LinkTypeEthernet, rs)

	sock := filepath.Join(t.TempDir(), "memif.sock")
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RxQueues: 4})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	var mu sync.Mutex
	got := make([][][]byte, 4) // by queue
	var wg sync.WaitGroup
	for q := range 4 {
		wg.Go(func() {
			rq := srv.RxQueue(q)
			for {
				data, _, err := rq.ReadPacketData()
				if errors.Is(err, memifpcap.ErrLinkDown) && srv.Stats().Connects > 0 {
					return // memifinject is done
				}
				if err != nil && !errors.Is(err, memifpcap.ErrLinkDown) {
					return
				}
				if err == nil {
					mu.Lock()
					got[q] = append(got[q], data)
					mu.Unlock()
				}
			}
		})
	}
	r := inject(t.Context(), "-socket", sock, "-wait", "10s", "-tx-queues", "4", "-topspeed", file)
	requireOK(t, r)
	wg.Wait()
	require.Equal(t, uint64(len(rs)), parseSummary(t, r.stdout).packets)

	queueOf := map[int]int{}
	next := map[int]int{}
	used := 0
	total := 0
	for q, fs := range got {
		if len(fs) > 0 {
			used++
		}
		for _, d := range fs {
			total++
			require.Len(t, d, 60) // padded to the Ethernet minimum
			f, seq := int(binary.BigEndian.Uint32(d[42:])), int(binary.BigEndian.Uint32(d[46:]))
			require.Equal(t, flowFrame(t, f, seq), d)
			if prev, ok := queueOf[f]; ok {
				require.Equal(t, prev, q, "flow %d on two queues", f)
			}
			queueOf[f] = q
			require.Equal(t, next[f], seq, "flow %d out of order on queue %d", f, q)
			next[f]++
		}
	}
	require.Equal(t, len(rs), total, "frames received")
	for f := range flows {
		require.Equal(t, each, next[f], "flow %d", f)
	}
	require.Greater(t, used, 1, "queues used: %v", queueOf)
	t.Logf("flow → queue: %v", queueOf)
}

func TestFlowHash(t *testing.T) {
	a := flowFrame(t, 3, 0)
	require.Equal(t, flowHash(a, true), flowHash(flowFrame(t, 3, 99), true), "one flow, one hash")
	// Symmetric: the reply (addresses and ports swapped) hashes the same.
	b := append([]byte(nil), a...)
	copy(b[26:30], a[30:34])
	copy(b[30:34], a[26:30])
	copy(b[34:36], a[36:38])
	copy(b[36:38], a[34:36])
	require.Equal(t, flowHash(a, true), flowHash(b, true))
	// Ports count; the MACs do not when there is IP.
	require.NotEqual(t, flowHash(flowFrame(t, 2, 0), true), flowHash(flowFrame(t, 4, 0), true))
	c := append([]byte(nil), a...)
	c[0] ^= 0xff
	require.Equal(t, flowHash(a, true), flowHash(c, true))
	// The IP packet alone (-mode ip) hashes as inside its frame.
	require.Equal(t, flowHash(a, true), flowHash(a[14:], false))
	// A later fragment carries no ports: addresses only, as a first
	// fragment with its ports would not be; both stay valid inputs.
	frag := append([]byte(nil), a...)
	binary.BigEndian.PutUint16(frag[20:], 10) // fragment offset 80
	require.Equal(t, mix(symmetric(a[26:30], a[30:34], fnvBasis)), flowHash(frag, true))
	// Without IP: the Ethernet addresses.
	arp := append([]byte(nil), a[:14]...)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	require.Equal(t, mix(symmetric(a[0:6], a[6:12], fnvBasis)), flowHash(arp, true))
	// Anything short or odd gets a hash and no panic, without allocating.
	for n := range len(a) {
		_ = flowHash(a[:n], true)
		_ = flowHash(a[14:14+min(n, len(a)-14)], false)
	}
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = flowHash(a, true) }))
}
