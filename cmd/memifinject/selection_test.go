//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/capfile"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// -include and -exclude replay the frames tcpdump's expressions select:
// here the TCP segments without SYN of two shipped captures, decided
// independently by gopacket.
func TestReplayIncludeExclude(t *testing.T) {
	t.Parallel()
	files := []string{"../../testdata/pcaps/http-tcp.pcap", "../../testdata/pcaps/dns-udp.pcap"}
	var want [][]byte
	total := 0
	for _, name := range files {
		r, err := capfile.Open(name, nil)
		require.NoError(t, err)
		for {
			var p capfile.Packet
			if err := r.Next(&p); errors.Is(err, io.EOF) {
				break
			} else {
				require.NoError(t, err)
			}
			total++
			pkt := gopacket.NewPacket(p.Data, layers.LinkTypeEthernet, gopacket.Default)
			if tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && !tcp.SYN {
				want = append(want, bytes.Clone(p.Data))
			}
		}
		r.Close()
	}
	require.NotEmpty(t, want)
	p := newPeer(t, memifpcap.Config{})
	res := injectTo(t, p, append([]string{"-topspeed", "-include", "tcp", "-exclude", "tcp[tcpflags] & tcp-syn != 0"}, files...)...)
	require.Equal(t, 0, res.code, res.stderr)
	got, _ := p.received(t)
	require.Equal(t, want, got)
	s := parseSummary(t, res.stdout)
	require.Equal(t, uint64(len(want)), s.successful)
	require.Contains(t, res.stdout, "\tFiltered packets:            "+strconv.Itoa(total-len(want))+"\n")
}

// tapCapture writes a pcapng whose packets carry a queue and a direction,
// as the memif tap records them: frame i on queue i%2, inbound when i%3
// is not 0.
func tapCapture(t *testing.T, n int) string {
	t.Helper()
	le := binary.LittleEndian
	var b bytes.Buffer
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		var h [8]byte
		le.PutUint32(h[:], typ)
		le.PutUint32(h[4:], uint32(12+len(body)))
		b.Write(h[:])
		b.Write(body)
		b.Write(h[4:8])
	}
	shb := make([]byte, 16)
	le.PutUint32(shb, 0x1a2b3c4d)
	le.PutUint16(shb[4:], 1)
	le.PutUint64(shb[8:], ^uint64(0))
	block(0x0a0d0d0a, shb)
	idb := make([]byte, 8)
	le.PutUint16(idb, 1) // Ethernet
	block(1, idb)
	opt := func(code uint16, v uint32) []byte {
		o := make([]byte, 8)
		le.PutUint16(o, code)
		le.PutUint16(o[2:], 4)
		le.PutUint32(o[4:], v)
		return o
	}
	for i := range n {
		data := frame(i, 60+i)
		epb := make([]byte, 20, 64+len(data))
		le.PutUint32(epb[8:], uint32(i))
		le.PutUint32(epb[12:], uint32(len(data)))
		le.PutUint32(epb[16:], uint32(len(data)))
		epb = append(epb, data...)
		for len(epb)%4 != 0 {
			epb = append(epb, 0)
		}
		dir := uint32(1)
		if i%3 == 0 {
			dir = 2
		}
		epb = append(epb, opt(2, dir)...)
		epb = append(epb, opt(6, uint32(i%2))...)
		epb = append(epb, 0, 0, 0, 0)
		block(6, epb)
	}
	path := filepath.Join(t.TempDir(), "tap.pcapng")
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	return path
}

// -queue capture sends each frame on the queue it was recorded on, and
// -direction in replays one side of a tap capture.
func TestReplayTapCapture(t *testing.T) {
	t.Parallel()
	const n = 30
	file := tapCapture(t, n)
	sock := filepath.Join(t.TempDir(), "memif.sock")
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, RxQueues: 2, ReadTimeout: 20 * time.Second})
	require.NoError(t, err)
	defer srv.Close()
	want := map[int][][]byte{}
	count := 0
	for i := range n {
		if i%3 != 0 {
			want[i%2] = append(want[i%2], frame(i, 60+i))
			count++
		}
	}
	done := make(chan result, 1)
	go func() {
		done <- inject(context.Background(), "-socket", sock, "-tx-queues", "2", "-topspeed", "-queue", "capture", "-direction", "in", file)
	}()
	got := map[int][][]byte{}
	ms := make([]memifpcap.Message, 8)
	for seen := 0; seen < count; {
		k, err := srv.ReadBatch(ms)
		if errors.Is(err, memifpcap.ErrLinkDown) {
			continue
		}
		require.NoError(t, err)
		for _, m := range ms[:k] {
			var f []byte
			for _, b := range m.Buffers {
				f = append(f, b...)
			}
			got[m.Queue] = append(got[m.Queue], f)
		}
		seen += k
	}
	// Hand the last batch's slots back: the peer has taken every frame.
	_, err = srv.PollBatch(ms)
	require.NoError(t, err)
	var res result
	select {
	case res = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("memifinject still runs")
	}
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, want, got)
	require.Contains(t, res.stdout, "\tFiltered packets:            10\n")

	// A capture without queues cannot be replayed by queue.
	plain, _ := smallFrames(t, 3)
	res = inject(context.Background(), "-socket", sock, "-tx-queues", "2", "-topspeed", "-queue", "capture", plain)
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, plain+": packet 1: has no queue (pcapng epb_queue)")
}

// -v shows the handshake, message by message.
func TestReplayVerboseControl(t *testing.T) {
	t.Parallel()
	file, _ := smallFrames(t, 2)
	p := newPeer(t, memifpcap.Config{IfName: "peer-if"})
	res := injectTo(t, p, "-v", "-topspeed", file)
	require.Equal(t, 0, res.code, res.stderr)
	for _, line := range []string{
		`memifinject: control: received HELLO name "memifpcap" versions 2.0-2.0 max region 255, max rings c2s 255 s2c 255, max ring size 16384` + "\n",
		`memifinject: control: sent INIT version 2.0 id 0 mode ethernet name "memifpcap", no secret` + "\n",
		"memifinject: control: sent ADD_REGION 0 size ",
		`memifinject: control: received CONNECTED interface "peer-if"` + "\n",
		`memifinject: control: sent DISCONNECT "Device closed"` + "\n",
	} {
		require.Contains(t, res.stderr, line)
	}
}
