package layersglue_test

import (
	"bufio"
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
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/memifpcap"
)

// link opens a server and a client of the given mode on a socket in a
// temporary directory and waits for the link.
func link(t *testing.T, mode memifpcap.Mode) (srv, cli *memifpcap.Handle) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "memif.sock")
	srv, err := memifpcap.Open(&memifpcap.Config{Role: memifpcap.RoleServer, Socket: sock, Mode: mode, ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	cli, err = memifpcap.Open(&memifpcap.Config{Socket: sock, Mode: mode, ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitLinkUp(ctx))
	require.Equal(t, layersglue.LinkTypeForMode(mode), srv.LinkType())
	require.Equal(t, layersglue.LinkTypeForMode(mode), cli.LinkType())
	return srv, cli
}

// capture is the frames of one capture file and their link type.
type capture struct {
	linkType layers.LinkType
	frames   [][]byte
}

// readCapture reads a pcap or pcapng file (told apart by the magic).
func readCapture(t *testing.T, path string) capture {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	require.NoError(t, err, "%s: too short for a capture", path)
	var src interface {
		gopacket.PacketDataSource
		LinkType() layers.LinkType
	}
	if binary.LittleEndian.Uint32(magic) == 0x0A0D0D0A {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		require.NoError(t, err, path)
		src = r
	} else {
		r, err := pcapgo.NewReader(br)
		require.NoError(t, err, path)
		src = r
	}
	c := capture{linkType: src.LinkType()}
	for {
		data, _, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s: frame %d", path, len(c.frames)+1)
		c.frames = append(c.frames, data)
	}
	return c
}

// samePacket checks that got, decoded after crossing a memif link, is what
// decoding the same bytes straight from the file gives.
func samePacket(t *testing.T, where string, want, got gopacket.Packet) {
	t.Helper()
	require.Equal(t, want.Data(), got.Data(), "%s: frame bytes", where)
	wl, gl := want.Layers(), got.Layers()
	require.Equal(t, layerTypes(want), layerTypes(got), "%s: layer types", where)
	for i := range wl {
		require.Equal(t, wl[i].LayerContents(), gl[i].LayerContents(), "%s: layer %d (%v) contents", where, i, wl[i].LayerType())
		require.Equal(t, wl[i].LayerPayload(), gl[i].LayerPayload(), "%s: layer %d (%v) payload", where, i, wl[i].LayerType())
		require.Equal(t, gopacket.LayerString(wl[i]), gopacket.LayerString(gl[i]), "%s: layer %d fields", where, i)
	}
	if we := want.ErrorLayer(); we != nil {
		require.NotNil(t, got.ErrorLayer(), "%s: decoding from the file failed, over memif it did not", where)
		require.Equal(t, we.Error().Error(), got.ErrorLayer().Error().Error(), "%s", where)
	} else {
		require.Nil(t, got.ErrorLayer(), "%s", where)
	}
	md := got.Metadata()
	require.Equal(t, len(want.Data()), md.CaptureLength, where)
	require.Equal(t, len(want.Data()), md.Length, where)
	require.Contains(t, md.AncillaryData, any(memifpcap.AncillaryQueue{Queue: 0}), where)
}

// replay sends every frame from tx to rx, alternately with WritePacketData
// and with a FrameWriter, and checks each one decodes through
// NewPacketSource(rx, rx.LinkType()) exactly as decoding it straight with
// linkType does.
func replay(t *testing.T, name string, tx, rx *memifpcap.Handle, linkType layers.LinkType, frames [][]byte) {
	t.Helper()
	ps := gopacket.NewPacketSource(rx, rx.LinkType())
	w := tx.NewFrameWriter()
	for i, f := range frames {
		if i%2 == 0 {
			require.NoError(t, tx.WritePacketData(f), "%s: frame %d", name, i+1)
		} else {
			require.NoError(t, gopacket.SerializeLayers(w, gopacket.SerializeOptions{}, gopacket.Payload(f)))
			require.NoError(t, w.Send(), "%s: frame %d", name, i+1)
		}
		got, err := ps.NextPacket()
		require.NoError(t, err, "%s: frame %d", name, i+1)
		want := gopacket.NewPacket(f, linkType, gopacket.Default)
		samePacket(t, name+": frame "+strconv.Itoa(i+1), want, got)
	}
}

// checkCapture sends every frame of the capture over a live link of the
// mode its link type calls for, both ways, and, for an Ethernet capture,
// the IPv4 and IPv6 packets inside over an ip-mode link too.
func checkCapture(t *testing.T, path string) {
	c := readCapture(t, path)
	require.NotEmpty(t, c.frames, "%s holds no frame", path)
	mode, ok := layersglue.ModeForLinkType[memifpcap.Mode](c.linkType)
	require.True(t, ok, "%s: link type %s has no memif mode", path, layersglue.LinkTypeName(c.linkType))
	srv, cli := link(t, mode)
	replay(t, "client to server", cli, srv, c.linkType, c.frames)
	replay(t, "server to client", srv, cli, c.linkType, c.frames)
	if c.linkType != layers.LinkTypeEthernet {
		return
	}
	// memifinject -strip-l2: the same IP packets, without Ethernet.
	var packets [][]byte
	for _, f := range c.frames {
		p := gopacket.NewPacket(f, layers.LinkTypeEthernet, gopacket.Default)
		if eth, ok := p.LinkLayer().(*layers.Ethernet); ok && len(eth.Payload) > 0 &&
			(eth.EthernetType == layers.EthernetTypeIPv4 || eth.EthernetType == layers.EthernetTypeIPv6) {
			packets = append(packets, eth.Payload)
		}
	}
	if len(packets) == 0 {
		return
	}
	srv, cli = link(t, memifpcap.ModeIP)
	replay(t, "ip mode, client to server", cli, srv, layers.LinkTypeRaw, packets)
	replay(t, "ip mode, server to client", srv, cli, layers.LinkTypeRaw, packets)
}

// TestCapturesInTestdata replays every capture recorded from real traffic
// (testdata/pcaps, see record.sh there) over memif links.
func TestCapturesInTestdata(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.pcap", "*.pcapng"} {
		m, err := filepath.Glob(filepath.Join("..", "testdata", "pcaps", pattern))
		require.NoError(t, err)
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no *.pcap or *.pcapng in testdata/pcaps: record them with testdata/pcaps/record.sh")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { checkCapture(t, f) })
	}
}

// TestCapturesMadeHere replays captures written here, in pcap (micro- and
// nanosecond) and pcapng, of frames serialized with gopacket: the same
// checks as TestCapturesInTestdata, independent of the recorded files.
func TestCapturesMadeHere(t *testing.T) {
	frames := madeFrames(t)
	require.Len(t, frames, len(madeLayers))
	for i, f := range frames {
		p := gopacket.NewPacket(f, layers.LinkTypeEthernet, gopacket.Default)
		require.Equal(t, madeLayers[i], layerTypes(p), "made frame %d", i)
	}
	dir := t.TempDir()
	ci := func(i int, f []byte) gopacket.CaptureInfo {
		c := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1000), CaptureLength: len(f), Length: len(f)}
		if len(f) == 128 { // the truncated jumbo frame
			c.Length = 9014
		}
		return c
	}
	write := func(name string, nanos bool) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		require.NoError(t, err)
		defer f.Close()
		w := pcapgo.NewWriter(f)
		if nanos {
			w = pcapgo.NewWriterNanos(f)
		}
		require.NoError(t, w.WriteFileHeader(262144, layers.LinkTypeEthernet))
		for i, fr := range frames {
			require.NoError(t, w.WritePacket(ci(i, fr), fr))
		}
		return path
	}
	files := []string{write("micro.pcap", false), write("nano.pcap", true)}
	ng := filepath.Join(dir, "mixed.pcapng")
	f, err := os.Create(ng)
	require.NoError(t, err)
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	require.NoError(t, err)
	for i, fr := range frames {
		require.NoError(t, w.WritePacket(ci(i, fr), fr))
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	files = append(files, ng)

	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c := readCapture(t, path)
			require.Equal(t, layers.LinkTypeEthernet, c.linkType)
			require.Len(t, c.frames, len(frames))
			for i := range frames {
				require.Equal(t, frames[i], c.frames[i])
			}
			checkCapture(t, path)
		})
	}
}

// IP mode, Go to Go: bare IPv4 and IPv6 packets, built by both writers,
// decode to IPv4 or IPv6 by their version nibble, through NewPacketSource
// and through a DecodingLayerParser over ZeroCopyReadPacketData.
func TestIPModeGoToGo(t *testing.T) {
	srv, cli := link(t, memifpcap.ModeIP)
	require.Equal(t, layers.LinkTypeRaw, srv.LinkType())
	v4 := []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeUDP, gopacket.LayerTypePayload}
	v6 := []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeUDP, gopacket.LayerTypePayload}
	for _, dir := range [][2]*memifpcap.Handle{{cli, srv}, {srv, cli}} {
		tx, rx := dir[0], dir[1]
		ps := gopacket.NewPacketSource(rx, rx.LinkType())
		for i, size := range []int{1, 500, 4000, 8000} {
			for _, isV6 := range []bool{false, true} {
				pkt := ipPacket(t, isV6, bytes.Repeat([]byte{byte(i)}, size))
				if i%2 == 0 {
					require.NoError(t, tx.WritePacketData(pkt))
				} else {
					w := tx.NewFrameWriter()
					require.NoError(t, gopacket.SerializeLayers(w, gopacket.SerializeOptions{}, gopacket.Payload(pkt)))
					require.NoError(t, w.Send())
				}
				p, err := ps.NextPacket()
				require.NoError(t, err)
				require.Nil(t, p.ErrorLayer())
				want := v4
				if isV6 {
					want = v6
				}
				require.Equal(t, want, layerTypes(p), "size %d v6 %v", size, isV6)
				require.Equal(t, pkt, p.Data())
				require.Equal(t, size, len(p.ApplicationLayer().Payload()))
			}
		}
		// Not IP at all: a decode failure, not a panic.
		require.NoError(t, tx.WritePacketData([]byte{0x50, 1, 2, 3}))
		p, err := ps.NextPacket()
		require.NoError(t, err)
		require.NotNil(t, p.ErrorLayer())
	}

	var (
		raw     layersglue.RawIP
		ip4     layers.IPv4
		ip6     layers.IPv6
		udp     layers.UDP
		payload gopacket.Payload
	)
	first, ok := layersglue.FirstLayerType(srv.LinkType())
	require.True(t, ok)
	parser := gopacket.NewDecodingLayerParser(first, &raw, &ip4, &ip6, &udp, &payload)
	var decoded []gopacket.LayerType
	for _, isV6 := range []bool{true, false} {
		require.NoError(t, cli.WritePacketData(ipPacket(t, isV6, []byte("zero copy"))))
		data, _, err := srv.ZeroCopyReadPacketData()
		require.NoError(t, err)
		require.NoError(t, parser.DecodeLayers(data, &decoded))
		want := append([]gopacket.LayerType{layersglue.LayerTypeRawIP}, v4...)
		if isV6 {
			want = append([]gopacket.LayerType{layersglue.LayerTypeRawIP}, v6...)
		}
		require.Equal(t, want, decoded)
		require.Equal(t, "zero copy", string(payload))
	}
}

// Punt/inject mode, Go to Go: opaque frames round-trip and decode to one
// MemifPuntInject layer holding the frame.
func TestPuntInjectModeGoToGo(t *testing.T) {
	srv, cli := link(t, memifpcap.ModePuntInject)
	require.Equal(t, layersglue.LinkTypeMemifPuntInject, srv.LinkType())
	for _, dir := range [][2]*memifpcap.Handle{{cli, srv}, {srv, cli}} {
		tx, rx := dir[0], dir[1]
		ps := gopacket.NewPacketSource(rx, rx.LinkType())
		w := tx.NewFrameWriter()
		for i, size := range []int{1, 14, 60, 2048, 2049, 9000} {
			f := make([]byte, size)
			for j := range f {
				f[j] = byte(j*3 + i)
			}
			if i%2 == 0 {
				require.NoError(t, tx.WritePacketData(f))
			} else {
				require.NoError(t, gopacket.SerializeLayers(w, gopacket.SerializeOptions{},
					&layersglue.MemifPuntInject{BaseLayer: layers.BaseLayer{Contents: f}}))
				require.NoError(t, w.Send())
			}
			p, err := ps.NextPacket()
			require.NoError(t, err)
			require.Nil(t, p.ErrorLayer())
			require.Equal(t, []gopacket.LayerType{layersglue.LayerTypeMemifPuntInject}, layerTypes(p), "size %d", size)
			require.Equal(t, f, p.Layer(layersglue.LayerTypeMemifPuntInject).LayerContents(), "size %d", size)
		}
	}
	// The zero-copy fast path.
	var pi layersglue.MemifPuntInject
	first, _ := layersglue.FirstLayerType(cli.LinkType())
	parser := gopacket.NewDecodingLayerParser(first, &pi)
	require.NoError(t, srv.WritePacketData([]byte("punted")))
	data, _, err := cli.ZeroCopyReadPacketData()
	require.NoError(t, err)
	var decoded []gopacket.LayerType
	require.NoError(t, parser.DecodeLayers(data, &decoded))
	require.Equal(t, []gopacket.LayerType{layersglue.LayerTypeMemifPuntInject}, decoded)
	require.Equal(t, "punted", string(pi.Contents))
}
