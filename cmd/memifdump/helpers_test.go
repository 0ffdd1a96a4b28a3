package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

// syncBuffer is a bytes.Buffer that run's goroutines and the test may use
// at the same time.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// dumpRun is memifdump running in-process.
type dumpRun struct {
	cancel context.CancelFunc
	done   chan int
	code   int
	stdout syncBuffer
	stderr syncBuffer
}

// startDump runs memifdump with args and waits for its start line.
func startDump(t *testing.T, args ...string) *dumpRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &dumpRun{cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- run(ctx, args, &r.stdout, &r.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("memifdump did not stop after its context was cancelled")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.stderr.String(), "listening on") {
		select {
		case code := <-r.done:
			r.done <- code
			t.Fatalf("memifdump exited with %d before listening:\n%s", code, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("memifdump did not start:\n%s", r.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	return r
}

// wait waits for memifdump to exit by itself and returns its status.
func (r *dumpRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.done:
		r.done <- code
		return code
	case <-time.After(15 * time.Second):
		t.Fatalf("memifdump did not exit:\n%s", r.stderr.String())
	}
	return -1
}

// stop is SIGINT: it cancels the context and waits.
func (r *dumpRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

func sockPath(t *testing.T) string { return filepath.Join(t.TempDir(), "memif.sock") }

// dumpServer starts memifdump as a memif server with args and connects a
// client Handle to it.
func dumpServer(t *testing.T, args ...string) (*dumpRun, *memifpcap.Handle) {
	t.Helper()
	sock := sockPath(t)
	r := startDump(t, append([]string{"-role", "server", "-socket", sock}, args...)...)
	cli, err := memifpcap.Open(&memifpcap.Config{Socket: sock})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	return r, cli
}

// dumpClient opens a server Handle and starts memifdump as its client.
func dumpClient(t *testing.T, args ...string) (*dumpRun, *memifpcap.Handle) {
	t.Helper()
	return dumpClientOf(t, memifpcap.Config{}, args...)
}

// dumpClientOf is dumpClient with the server Handle's configuration.
func dumpClientOf(t *testing.T, cfg memifpcap.Config, args ...string) (*dumpRun, *memifpcap.Handle) {
	t.Helper()
	cfg.Role, cfg.Socket = memifpcap.RoleServer, sockPath(t)
	srv, err := memifpcap.Open(&cfg)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	r := startDump(t, append([]string{"-socket", cfg.Socket}, args...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	return r, srv
}

func inject(t *testing.T, h *memifpcap.Handle, frames [][]byte) {
	t.Helper()
	for i, f := range frames {
		require.NoError(t, h.WritePacketData(f), "frame %d", i)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	ipA  = net.IP{10, 0, 0, 1}
	ipB  = net.IP{10, 0, 0, 2}
	ip6A = net.ParseIP("fd00::1")
	ip6B = net.ParseIP("fd00::2")
)

// payload is n bytes that carry seq, so that frames differ.
func payload(seq, n int) gopacket.Payload {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seq*7 + i)
	}
	if n >= 4 {
		binary.BigEndian.PutUint32(b, uint32(seq))
	}
	return b
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...)
	require.NoError(t, err)
	return bytes.Clone(buf.Bytes())
}

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func ip4(p layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: ipA, DstIP: ipB}
}

// udpFrame is Ethernet/IPv4/UDP 4000 > 4001 with n payload bytes (frame
// length n+42).
func udpFrame(t testing.TB, seq, n int) []byte {
	ip := ip4(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 4000, DstPort: 4001}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(layers.EthernetTypeIPv4), ip, udp, payload(seq, n))
}

func tcpFrame(t testing.TB, seq, n int) []byte {
	ip := ip4(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: uint32(seq), SYN: seq == 0, ACK: seq != 0, PSH: seq != 0, Window: 1000}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(layers.EthernetTypeIPv4), ip, tcp, payload(seq, n))
}

func icmpFrame(t testing.TB, seq int) []byte {
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: uint16(seq)}
	return serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), icmp, payload(seq, 56))
}

func udp6Frame(t testing.TB, seq, n int) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: ip6A, DstIP: ip6B}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 5001}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(layers.EthernetTypeIPv6), ip, udp, payload(seq, n))
}

func arpFrame(t testing.TB) []byte {
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: macA, SourceProtAddress: ipA, DstHwAddress: make([]byte, 6), DstProtAddress: ipB}
	e := eth(layers.EthernetTypeARP)
	e.DstMAC = layers.EthernetBroadcast
	return serialize(t, e, arp)
}

// udpFrames are n UDP frames, of 60 to 1500 bytes, with a jumbo frame of
// 9000 bytes (a chain of descriptors on the ring) every 7th.
func udpFrames(t testing.TB, n int) [][]byte {
	var fs [][]byte
	for i := 0; i < n; i++ {
		size := 18 + (i*389)%1441
		if i%7 == 3 {
			size = 9000 - 42
		}
		fs = append(fs, udpFrame(t, i, size))
	}
	return fs
}

type record struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// capture is a capture file as pcapgo reads it.
type capture struct {
	ng       bool
	nano     bool
	linkType layers.LinkType
	snapLen  uint32
	records  []record
	intf     pcapgo.NgInterface
	stats    []pcapgo.NgInterfaceStatistics
}

// readCapture reads a pcap or pcapng file (told apart by the magic number)
// to its end; it fails the test on anything but a clean end.
func readCapture(t *testing.T, b []byte) capture {
	t.Helper()
	require.GreaterOrEqual(t, len(b), 4, "capture file too short")
	var c capture
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	switch binary.LittleEndian.Uint32(b) {
	case 0x0a0d0d0a:
		c.ng = true
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{
			StatisticsCallback: func(_ int, s pcapgo.NgInterfaceStatistics) { c.stats = append(c.stats, s) },
		})
		require.NoError(t, err)
		c.linkType = r.LinkType()
		c.intf, err = r.Interface(0)
		require.NoError(t, err)
		c.snapLen = c.intf.SnapLength
		src = r
	case 0xa1b2c3d4, 0xa1b23c4d:
		c.nano = binary.LittleEndian.Uint32(b) == 0xa1b23c4d
		r, err := pcapgo.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		c.linkType, c.snapLen = r.LinkType(), r.Snaplen()
		src = r
	default:
		t.Fatalf("not a pcap or pcapng file: magic %x", b[:4])
	}
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "record %d", len(c.records)+1)
		c.records = append(c.records, record{ci, data})
	}
	return c
}

func readCaptureFile(t *testing.T, path string) capture {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return readCapture(t, b)
}

// requireFrames checks that c holds exactly want, in order, byte for byte,
// whole.
func requireFrames(t *testing.T, want [][]byte, c capture) {
	t.Helper()
	require.Len(t, c.records, len(want))
	for i, r := range c.records {
		require.Equal(t, want[i], r.data, "frame %d", i)
		require.Equal(t, len(want[i]), r.ci.CaptureLength, "frame %d", i)
		require.Equal(t, len(want[i]), r.ci.Length, "frame %d", i)
	}
}

// tsharkFrame is one frame as tshark sees it.
type tsharkFrame struct {
	Len, CapLen int
	Epoch       string // seconds.fraction as tshark prints it
	Raw         []byte
}

func needTshark(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark is not installed (apt-get install tshark); CI has it")
	}
}

// tshark reads path with `tshark -r` and returns every frame it saw.
func tshark(t *testing.T, path string) []tsharkFrame {
	t.Helper()
	needTshark(t)
	cmd := exec.Command("tshark", "-r", path, "-T", "json", "-x", "-j", "frame")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark -r %s: %s", path, stderr.String())
	var pkts []struct {
		Source struct {
			Layers struct {
				FrameRaw []any          `json:"frame_raw"`
				Frame    map[string]any `json:"frame"`
			} `json:"layers"`
		} `json:"_source"`
	}
	require.NoError(t, json.Unmarshal(out, &pkts), "tshark -r %s output", path)
	frames := make([]tsharkFrame, len(pkts))
	for i, p := range pkts {
		l := p.Source.Layers
		f := &frames[i]
		str := func(k string) string { s, _ := l.Frame[k].(string); return s }
		f.Len, err = strconv.Atoi(str("frame.len"))
		require.NoError(t, err, "frame %d frame.len", i+1)
		f.CapLen, err = strconv.Atoi(str("frame.cap_len"))
		require.NoError(t, err, "frame %d frame.cap_len", i+1)
		f.Epoch = str("frame.time_epoch")
		require.NotEmpty(t, l.FrameRaw, "frame %d has no raw bytes", i+1)
		h, _ := l.FrameRaw[0].(string)
		f.Raw, err = hex.DecodeString(h)
		require.NoError(t, err)
	}
	return frames
}

// requireTsharkAgrees checks that tshark reads the file as pcapgo did:
// the same count, lengths, bytes and (to the file's resolution) times.
func requireTsharkAgrees(t *testing.T, path string, c capture) []tsharkFrame {
	t.Helper()
	fs := tshark(t, path)
	require.Len(t, fs, len(c.records), "tshark -r %s: frame count", path)
	for i, f := range fs {
		r := c.records[i]
		require.Equal(t, r.ci.Length, f.Len, "frame %d length", i+1)
		require.Equal(t, r.ci.CaptureLength, f.CapLen, "frame %d captured length", i+1)
		require.Equal(t, r.data, f.Raw, "frame %d bytes", i+1)
		// tshark prints nine digits; a microsecond file's end in 000.
		ts := r.ci.Timestamp
		want := fmt.Sprintf("%d.%09d", ts.Unix(), ts.Nanosecond())
		require.Equal(t, want, f.Epoch, "frame %d time", i+1)
	}
	return fs
}

// statLines are the closing counts from stderr, by what they count.
func statLines(t *testing.T, stderr string) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, line := range strings.Split(stderr, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && (f[1] == "packets" || f[1] == "packet") {
			n, err := strconv.ParseUint(f[0], 10, 64)
			require.NoError(t, err, line)
			m[f[2]] = n
		}
	}
	return m
}
