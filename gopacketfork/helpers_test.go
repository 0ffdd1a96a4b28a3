package gopacketfork_test

import (
	"context"
	"encoding/binary"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/gopacketfork"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// limit bounds every wait of a test: when it runs out, the watchdog closes
// the Handles, which ends a blocked read with io.EOF and a blocked write
// with an error, so a hang fails the test instead of stalling it.
const limit = 2 * time.Minute

// pair opens a server and a client on a unix socket in t.TempDir(), both
// wrapped for the fork, and waits (up to 10 s) for the link.
func pair(t *testing.T, server, client memifpcap.Config) (srv, cli *gopacketfork.Handle) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "memif.sock")
	server.Role, server.Socket = memifpcap.RoleServer, sock
	client.Role, client.Socket = memifpcap.RoleClient, sock
	srv, err := gopacketfork.Open(&server)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	cli, err = gopacketfork.Open(&client)
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	require.NoError(t, cli.WaitLinkUp(ctx))
	watchdog := time.AfterFunc(limit, func() {
		t.Errorf("watchdog: the test took over %v; closing the link", limit)
		srv.Close()
		cli.Close()
	})
	t.Cleanup(func() { watchdog.Stop() })
	return srv, cli
}

var serializeOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// udpFrame builds, with the fork's layers, Ethernet/IPv4/UDP frame seq:
// the UDP payload is seq (4 bytes) then bytes that depend on seq and
// position, payloadLen bytes in all.
func udpFrame(t testing.TB, seq, payloadLen int) []byte {
	t.Helper()
	payload := make([]byte, payloadLen)
	binary.BigEndian.PutUint32(payload, uint32(seq))
	for j := 4; j < payloadLen; j++ {
		payload[j] = byte(seq*31 + j*7)
	}
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 1},
		DstMAC:       net.HardwareAddr{0x02, 0, 0, 0, 0, 2},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 2},
	}
	udp := &layers.UDP{SrcPort: 41000, DstPort: layers.UDPPort(40000 + seq%1000)}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, serializeOpts, eth, ip, udp, gopacket.Payload(payload)))
	return append([]byte(nil), buf.Bytes()...)
}

// payloadLen spreads frames over one descriptor and chains (the default
// buffer is 2048 bytes): 18 (a 60-byte frame), 1458 (1500) and 8958 (9000).
func payloadLen(i int) int {
	return []int{18, 1458, 8958, 100 + i%500}[i%4]
}

// checkUDP checks that p decoded, with the fork's layers, to frame seq.
func checkUDP(t *testing.T, p gopacket.Packet, seq int) {
	t.Helper()
	require.Nil(t, p.ErrorLayer(), "decode error")
	eth, ok := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	require.True(t, ok, "no fork Ethernet layer in %v", p)
	require.Equal(t, layers.EthernetTypeIPv4, eth.EthernetType)
	ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	require.True(t, ok, "no fork IPv4 layer")
	require.Equal(t, net.IP{192, 0, 2, 2}.String(), ip.DstIP.String())
	udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	require.True(t, ok, "no fork UDP layer")
	require.Equal(t, layers.UDPPort(40000+seq%1000), udp.DstPort)
	require.Len(t, udp.Payload, payloadLen(seq))
	require.Equal(t, uint32(seq), binary.BigEndian.Uint32(udp.Payload))
	require.Equal(t, udpFrame(t, seq, payloadLen(seq)), p.Data())
}

// queueOf returns the memifpcap.AncillaryQueue in ci, failing without one.
func queueOf(t *testing.T, ci gopacket.CaptureInfo) int {
	t.Helper()
	for _, a := range ci.AncillaryData {
		if q, ok := a.(memifpcap.AncillaryQueue); ok {
			return q.Queue
		}
	}
	t.Fatalf("no memifpcap.AncillaryQueue in AncillaryData %v", ci.AncillaryData)
	return -1
}

// send writes frames with WritePacketData in a goroutine and
// returns a channel with its error (nil once all are written).
func send(h *gopacketfork.Handle, frames [][]byte) <-chan error {
	errc := make(chan error, 1)
	go func() {
		for _, f := range frames {
			if err := h.WritePacketData(f); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	return errc
}
