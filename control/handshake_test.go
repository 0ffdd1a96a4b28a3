//go:build linux

package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connectCall records one ServerInterface.Connect.
type connectCall struct {
	c          *Conn
	init       Init
	offer      Offer
	peerIfName string
}

// testIface is a ServerInterface that accepts one client at a time, like
// every peer ("Already connected").
type testIface struct {
	limits     Limits
	secret     string
	admitErr   error
	connectErr error
	ifName     string
	calls      chan connectCall

	mu        sync.Mutex
	connected bool
}

func newTestIface(ifName string) *testIface {
	return &testIface{
		limits: Limits{C2SRings: 1, S2CRings: 1, Regions: 1},
		ifName: ifName,
		calls:  make(chan connectCall, 4),
	}
}

func (i *testIface) Admit(init Init) (Limits, error) {
	if i.admitErr != nil {
		return Limits{}, i.admitErr
	}
	if init.Secret != i.secret {
		return Limits{}, &RejectError{Reason: "Incorrect secret"}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.connected {
		return Limits{}, &RejectError{Reason: "Already connected"}
	}
	return i.limits, nil
}

func (i *testIface) Connect(c *Conn, init Init, offer *Offer, peerIfName string) (string, error) {
	if i.connectErr != nil {
		return "", i.connectErr
	}
	i.mu.Lock()
	i.connected = true
	i.mu.Unlock()
	cp := Offer{
		Regions: append([]RegionOffer(nil), offer.Regions...),
		Rings:   append([]RingOffer(nil), offer.Rings...),
	}
	i.calls <- connectCall{c: c, init: init, offer: cp, peerIfName: peerIfName}
	return i.ifName, nil
}

// takeCall waits for the interface's Connect and makes the test own what it
// received.
func (i *testIface) takeCall(t *testing.T) connectCall {
	t.Helper()
	select {
	case call := <-i.calls:
		t.Cleanup(func() {
			call.c.Close()
			call.offer.closeFDs()
		})
		return call
	case <-time.After(5 * time.Second):
		t.Fatal("interface Connect was not called")
	}
	panic("unreachable")
}

type testServer struct {
	s      *Server
	addr   Addr
	errors chan error
}

func startServer(t *testing.T, cfg ServerConfig, ifaces map[uint32]*testIface) *testServer {
	t.Helper()
	ts := &testServer{addr: fileAddr(t), errors: make(chan error, 64)}
	l, err := Listen(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name == "" {
		cfg.Name = "memifpcap-test"
	}
	cfg.OnError = func(err error) {
		select {
		case ts.errors <- err:
		default:
		}
	}
	ts.s = NewServer(l, cfg)
	t.Cleanup(func() { ts.s.Close() })
	for id, iface := range ifaces {
		if err := ts.s.Register(id, iface); err != nil {
			t.Fatal(err)
		}
	}
	ts.s.Start()
	return ts
}

// nextError waits for the server to report a failed handshake.
func (ts *testServer) nextError(t *testing.T) error {
	t.Helper()
	select {
	case err := <-ts.errors:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("server reported no error")
	}
	return nil
}

func (ts *testServer) noError(t *testing.T) {
	t.Helper()
	select {
	case err := <-ts.errors:
		t.Errorf("server reported: %v", err)
	default:
	}
}

func dial(t *testing.T, a Addr) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clientMemory is what the test planner created: one memfd region and one
// eventfd per ring, C2S then S2C.
type clientMemory struct {
	region int
	rings  []int
	hello  Hello
}

const testRegionSize = 4096

// testPlanner returns a planner offering 1 region memfd and 2 ring eventfds
// (one C2S, one S2C, 16 slots each).
func testPlanner(t *testing.T, mem *clientMemory) func(Hello) (*Offer, error) {
	return func(h Hello) (*Offer, error) {
		mem.hello = h
		mem.region = memfd(t, testRegionSize)
		mem.rings = []int{eventfd(t), eventfd(t)}
		return &Offer{
			Regions: []RegionOffer{{Size: testRegionSize, FD: mem.region}},
			Rings: []RingOffer{
				{Msg: AddRing{Flags: RingFlagC2S, Index: 0, Region: 0, Offset: 0, Log2RingSize: 4}, FD: mem.rings[0]},
				{Msg: AddRing{Flags: 0, Index: 0, Region: 0, Offset: 384, Log2RingSize: 4}, FD: mem.rings[1]},
			},
		}, nil
	}
}

var defaultHello = Hello{
	Name:            "memifpcap-test",
	MinVersion:      0x0200,
	MaxVersion:      0x0200,
	MaxRegion:       255,
	MaxS2CRing:      255,
	MaxC2SRing:      255,
	MaxLog2RingSize: 14,
}

func clientParams(id uint32) ClientParams {
	return ClientParams{ID: id, Mode: ModeEthernet, Name: "client-app", IfName: "memif-cli0", StepTimeout: 5 * time.Second}
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	iface := newTestIface("memif-srv0")
	iface.secret = "s3cret"
	ts := startServer(t, ServerConfig{}, map[uint32]*testIface{7: iface})

	c := dial(t, ts.addr)
	var mem clientMemory
	p := clientParams(7)
	p.Secret = "s3cret"
	res, err := ClientHandshake(c, p, testPlanner(t, &mem))
	if err != nil {
		t.Fatalf("ClientHandshake: %v", err)
	}
	if want := (ClientResult{Hello: defaultHello, PeerIfName: "memif-srv0"}); *res != want {
		t.Errorf("result %#v, want %#v", *res, want)
	}
	if mem.hello != defaultHello {
		t.Errorf("planner saw %#v, want %#v", mem.hello, defaultHello)
	}

	call := iface.takeCall(t)
	if want := (Init{Version: 0x0200, ID: 7, Mode: ModeEthernet, Secret: "s3cret", Name: "client-app"}); call.init != want {
		t.Errorf("Connect init %#v, want %#v", call.init, want)
	}
	if call.peerIfName != "memif-cli0" {
		t.Errorf("Connect peerIfName %q, want %q", call.peerIfName, "memif-cli0")
	}
	if len(call.offer.Regions) != 1 || len(call.offer.Rings) != 2 {
		t.Fatalf("offer has %d regions and %d rings, want 1 and 2", len(call.offer.Regions), len(call.offer.Rings))
	}
	if got := call.offer.Regions[0].Size; got != testRegionSize {
		t.Errorf("region size %d, want %d", got, testRegionSize)
	}
	var st1, st2 unix.Stat_t
	if err := unix.Fstat(mem.region, &st1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(call.offer.Regions[0].FD, &st2); err != nil {
		t.Fatalf("server region fd: %v", err)
	}
	if st1.Ino != st2.Ino || st2.Size != testRegionSize {
		t.Errorf("server region fd: ino %d size %d, want ino %d size %d", st2.Ino, st2.Size, st1.Ino, testRegionSize)
	}
	wantRings := []AddRing{
		{Flags: RingFlagC2S, Index: 0, Region: 0, Offset: 0, Log2RingSize: 4},
		{Flags: 0, Index: 0, Region: 0, Offset: 384, Log2RingSize: 4},
	}
	for i, r := range call.offer.Rings {
		if r.Msg != wantRings[i] {
			t.Errorf("ring %d: %#v, want %#v", i, r.Msg, wantRings[i])
		}
		signalAndCheck(t, mem.rings[i], r.FD) // client produces, server wakes
		signalAndCheck(t, r.FD, mem.rings[i])
	}

	// The channel stays usable after the handshake: the interface owns it.
	if err := call.c.Send(Disconnect{Reason: "Device closed"}, -1); err != nil {
		t.Fatal(err)
	}
	if m, _, err := c.Recv(time.Now().Add(5 * time.Second)); err != nil || m != (Disconnect{Reason: "Device closed"}) {
		t.Errorf("client Recv after handshake = %#v, %v", m, err)
	}
	ts.noError(t)
}

func TestHandshakeInterleavedRings(t *testing.T) {
	t.Parallel()
	iface := newTestIface("srv")
	iface.limits = Limits{C2SRings: 2, S2CRings: 2}
	ts := startServer(t, ServerConfig{}, map[uint32]*testIface{1: iface})
	c := dial(t, ts.addr)
	expectMsg(t, c, defaultHello)
	sendExpect(t, c, Init{Version: Version, ID: 1}, -1, Ack{})
	sendExpect(t, c, AddRegion{Index: 0, Size: 4096}, memfd(t, 4096), Ack{})
	// S2C before C2S and interleaved: DPDK would accept it, and the
	// interface still gets C2S 0..n-1 then S2C 0..m-1.
	order := []AddRing{
		{Flags: 0, Index: 0, Log2RingSize: 1},
		{Flags: RingFlagC2S, Index: 0, Log2RingSize: 2},
		{Flags: 0, Index: 1, Log2RingSize: 3},
		{Flags: RingFlagC2S, Index: 1, Log2RingSize: 4},
	}
	for _, r := range order {
		sendExpect(t, c, r, eventfd(t), Ack{})
	}
	sendExpect(t, c, Connect{IfName: "cli"}, -1, Connected{IfName: "srv"})
	call := iface.takeCall(t)
	want := []AddRing{order[1], order[3], order[0], order[2]}
	for i, r := range call.offer.Rings {
		if r.Msg != want[i] {
			t.Errorf("ring %d: %#v, want %#v", i, r.Msg, want[i])
		}
	}
	if len(call.offer.Rings) != len(want) {
		t.Errorf("%d rings, want %d", len(call.offer.Rings), len(want))
	}
}

func expectMsg(t *testing.T, c *Conn, want Message) {
	t.Helper()
	m, fd, err := c.Recv(time.Now().Add(5 * time.Second))
	if err != nil || m != want || fd != -1 {
		t.Fatalf("Recv = %#v, fd %d, %v; want %#v", m, fd, err, want)
	}
}

func sendExpect(t *testing.T, c *Conn, m Message, fd int, want Message) {
	t.Helper()
	if err := c.Send(m, fd); err != nil {
		t.Fatal(err)
	}
	expectMsg(t, c, want)
}

// expectDisconnect expects DISCONNECT(0, reason) and then the server's close.
func expectDisconnect(t *testing.T, c *Conn, reason string) {
	t.Helper()
	expectMsg(t, c, Disconnect{Reason: reason})
	if _, _, err := c.Recv(time.Now().Add(5 * time.Second)); !errors.Is(err, io.EOF) {
		t.Fatalf("after DISCONNECT: %v, want EOF", err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		id     uint32
		secret string
		setup  func(*testIface)
		reason string
	}{
		{name: "unknown id", id: 99, reason: "ID not found"},
		{name: "secret mismatch", id: 1, secret: "wrong", setup: func(i *testIface) { i.secret = "right" }, reason: "Incorrect secret"},
		{name: "secret required", id: 1, setup: func(i *testIface) { i.admitErr = &RejectError{Reason: "Secret required"} }, reason: "Secret required"},
		{name: "admit plain error", id: 1, setup: func(i *testIface) { i.admitErr = errors.New("disk on fire") }, reason: "Device error"},
		{name: "connect refused", id: 1, setup: func(i *testIface) { i.connectErr = &RejectError{Reason: "Wrong ring"} }, reason: "Wrong ring"},
		{name: "connect plain error", id: 1, setup: func(i *testIface) { i.connectErr = fmt.Errorf("mmap: %w", unix.ENOMEM) }, reason: "Device error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iface := newTestIface("srv")
			if tt.setup != nil {
				tt.setup(iface)
			}
			ts := startServer(t, ServerConfig{}, map[uint32]*testIface{1: iface})
			c := dial(t, ts.addr)

			// Pipes instead of memfd/eventfds: the server must close
			// every fd it received when it refuses.
			region, c2s, s2c := newLeakCheck(t), newLeakCheck(t), newLeakCheck(t)
			plan := func(Hello) (*Offer, error) {
				return &Offer{
					Regions: []RegionOffer{{Size: 4096, FD: region.fd()}},
					Rings: []RingOffer{
						{Msg: AddRing{Flags: RingFlagC2S, Log2RingSize: 4}, FD: c2s.fd()},
						{Msg: AddRing{Log2RingSize: 4, Offset: 384}, FD: s2c.fd()},
					},
				}, nil
			}
			p := clientParams(tt.id)
			p.Secret = tt.secret
			_, err := ClientHandshake(c, p, plan)
			var de *DisconnectError
			if !errors.As(err, &de) || *de != (DisconnectError{Code: 0, Reason: tt.reason}) {
				t.Fatalf("ClientHandshake = %v, want *DisconnectError{0, %q}", err, tt.reason)
			}
			if want := "memif: server refused the connection: " + tt.reason; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			var re *RejectError
			if serr := ts.nextError(t); !errors.As(serr, &re) || re.Reason != tt.reason {
				t.Errorf("server reported %v, want a *RejectError %q", serr, tt.reason)
			}
			if _, _, err := c.Recv(time.Now().Add(5 * time.Second)); !errors.Is(err, io.EOF) {
				t.Fatalf("after DISCONNECT: %v, want EOF", err)
			}
			region.assertClosed(t)
			c2s.assertClosed(t)
			s2c.assertClosed(t)
		})
	}
}

func TestHandshakeAlreadyConnected(t *testing.T) {
	t.Parallel()
	iface := newTestIface("srv")
	ts := startServer(t, ServerConfig{}, map[uint32]*testIface{3: iface})
	var mem1, mem2 clientMemory
	if _, err := ClientHandshake(dial(t, ts.addr), clientParams(3), testPlanner(t, &mem1)); err != nil {
		t.Fatal(err)
	}
	iface.takeCall(t)
	_, err := ClientHandshake(dial(t, ts.addr), clientParams(3), testPlanner(t, &mem2))
	var de *DisconnectError
	if !errors.As(err, &de) || de.Reason != "Already connected" || err.Error() != "memif: server refused the connection: Already connected" {
		t.Fatalf("second client: %v", err)
	}
}

func TestHandshakeTwoInterfaces(t *testing.T) {
	t.Parallel()
	i1, i2 := newTestIface("srv-one"), newTestIface("srv-two")
	ts := startServer(t, ServerConfig{}, map[uint32]*testIface{1: i1, 2: i2})
	var wg sync.WaitGroup
	results := make([]*ClientResult, 3)
	errs := make([]error, 3)
	for _, id := range []uint32{1, 2} {
		c := dial(t, ts.addr)
		var mem clientMemory
		plan := testPlanner(t, &mem)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := clientParams(id)
			p.IfName = fmt.Sprintf("cli-%d", id)
			results[id], errs[id] = ClientHandshake(c, p, plan)
		}()
	}
	wg.Wait()
	for id, want := range map[uint32]string{1: "srv-one", 2: "srv-two"} {
		if errs[id] != nil {
			t.Fatalf("client %d: %v", id, errs[id])
		}
		if results[id].PeerIfName != want {
			t.Errorf("client %d connected to %q, want %q", id, results[id].PeerIfName, want)
		}
	}
	for id, iface := range map[uint32]*testIface{1: i1, 2: i2} {
		call := iface.takeCall(t)
		if call.init.ID != id || call.peerIfName != fmt.Sprintf("cli-%d", id) {
			t.Errorf("interface %d got id %d from %q", id, call.init.ID, call.peerIfName)
		}
	}
	ts.noError(t)
}

// fakeServer accepts one connection and runs script on it.
func fakeServer(t *testing.T, script func(c *Conn)) Addr {
	t.Helper()
	a := abstractAddr(t)
	l := listen(t, a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		script(c)
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return a
}

// recvIn is Recv for a fake peer's goroutine: failures are returned as a
// message-less error for the test to report.
func recvIn(c *Conn) Message {
	m, fd, err := c.Recv(time.Now().Add(5 * time.Second))
	if fd >= 0 {
		unix.Close(fd)
	}
	if err != nil {
		return nil
	}
	return m
}

func TestClientStalledServer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		script func(c *Conn, release <-chan struct{})
		want   string
	}{
		{"before HELLO", func(c *Conn, release <-chan struct{}) {
			<-release
		}, "memif: client handshake: no HELLO from the server within 100ms after connecting"},
		{"after INIT", func(c *Conn, release <-chan struct{}) {
			c.Send(defaultHello, -1)
			recvIn(c)
			<-release
		}, "memif: client handshake: no ACK from the server within 100ms after INIT"},
		{"after CONNECT", func(c *Conn, release <-chan struct{}) {
			c.Send(defaultHello, -1)
			for range 4 { // INIT, ADD_REGION, 2 × ADD_RING
				recvIn(c)
				c.Send(Ack{}, -1)
			}
			recvIn(c)
			<-release
		}, "memif: client handshake: no CONNECTED from the server within 100ms after CONNECT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			a := fakeServer(t, func(c *Conn) { tt.script(c, release) })
			defer close(release)
			p := clientParams(0)
			p.StepTimeout = 100 * time.Millisecond
			var mem clientMemory
			start := time.Now()
			_, err := ClientHandshake(dial(t, a), p, testPlanner(t, &mem))
			if err == nil || err.Error() != tt.want || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("ClientHandshake = %v, want %q wrapping os.ErrDeadlineExceeded", err, tt.want)
			}
			if el := time.Since(start); el > 30*time.Second {
				t.Errorf("gave up after %v", el)
			}
		})
	}
}

func TestClientServerClosesSilently(t *testing.T) {
	t.Parallel()
	// VPP on a version mismatch, or any server that just closes.
	a := fakeServer(t, func(c *Conn) {
		c.Send(defaultHello, -1)
		recvIn(c)
	})
	var mem clientMemory
	_, err := ClientHandshake(dial(t, a), clientParams(0), testPlanner(t, &mem))
	want := "memif: server closed the control channel after INIT with no reason given"
	if err == nil || err.Error() != want || !errors.Is(err, io.EOF) {
		t.Fatalf("ClientHandshake = %v, want %q wrapping io.EOF", err, want)
	}
}

// runFake runs a fake server script and returns what it saw, via a channel
// the test reads after the client has finished.
func runFake(t *testing.T, script func(c *Conn) []Message) (Addr, <-chan []Message) {
	t.Helper()
	got := make(chan []Message, 1)
	a := fakeServer(t, func(c *Conn) { got <- script(c) })
	return a, got
}

func TestClientRefusesServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		hello      Hello
		afterInit  func(c *Conn) // what the server answers to INIT
		plan       func(Hello) (*Offer, error)
		wantErr    string
		wantReason string
	}{
		{
			name:       "version mismatch",
			hello:      Hello{Name: "future", MinVersion: 0x0300, MaxVersion: 0x0300, MaxLog2RingSize: 14},
			wantErr:    `memif: client handshake: server "future" speaks memif versions 0x0300..0x0300, we speak 0x0200`,
			wantReason: "Incompatible memif version",
		},
		{
			name:       "CONNECTED instead of ACK",
			hello:      defaultHello,
			afterInit:  func(c *Conn) { c.Send(Connected{IfName: "x"}, -1) },
			wantErr:    "memif: client handshake: expected ACK after INIT, got CONNECTED",
			wantReason: "Unexpected message",
		},
		{
			name:       "second HELLO",
			hello:      defaultHello,
			afterInit:  func(c *Conn) { c.Send(defaultHello, -1) },
			wantErr:    "memif: client handshake: expected ACK after INIT, got HELLO",
			wantReason: "Unexpected message",
		},
		{
			name:       "undersized reply",
			hello:      defaultHello,
			afterInit:  func(c *Conn) { c.sendRaw(make([]byte, 16), -1, MsgAck) },
			wantErr:    "memif: client handshake: waiting for ACK after INIT: memif: receive: invalid message size: 16 bytes, want 128",
			wantReason: "Invalid message size",
		},
		{
			name:  "unknown type reply",
			hello: defaultHello,
			afterInit: func(c *Conn) {
				b := make([]byte, MsgSize)
				b[0] = 0x2a
				c.sendRaw(b, -1, MsgType(0x2a))
			},
			wantErr:    "memif: client handshake: waiting for ACK after INIT: memif: unknown message type 42 (0x002a)",
			wantReason: "Unknown message type",
		},
		{
			name:       "plan fails",
			hello:      defaultHello,
			plan:       func(Hello) (*Offer, error) { return nil, errors.New("no memory") },
			wantErr:    `memif: client handshake: planning shared memory for server "memifpcap-test": no memory`,
			wantReason: "Failed to set up shared memory: no memory",
		},
		{
			name:  "plan exceeds HELLO ring limit",
			hello: Hello{Name: "small", MinVersion: Version, MaxVersion: Version, MaxRegion: 0, MaxS2CRing: 0, MaxC2SRing: 0, MaxLog2RingSize: 2},
			plan: func(h Hello) (*Offer, error) {
				return &Offer{
					Regions: []RegionOffer{{Size: 1, FD: 0}},
					Rings: []RingOffer{
						{Msg: AddRing{Flags: RingFlagC2S, Log2RingSize: 2}, FD: 0},
						{Msg: AddRing{Flags: RingFlagC2S, Index: 1, Log2RingSize: 2}, FD: 0},
						{Msg: AddRing{Log2RingSize: 2}, FD: 0},
					},
				}, nil
			},
			wantErr:    `memif: client handshake: planning shared memory for server "small": 2 C2S rings, the server accepts indices up to 0`,
			wantReason: "Failed to set up shared memory: 2 C2S rings, the server accepts indices up to 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, seen := runFake(t, func(c *Conn) []Message {
				c.Send(tt.hello, -1)
				var got []Message
				m := recvIn(c)
				got = append(got, m)
				if _, ok := m.(Init); ok && tt.afterInit != nil {
					tt.afterInit(c)
					got = append(got, recvIn(c))
				}
				return got
			})
			plan := tt.plan
			if plan == nil {
				var mem clientMemory
				plan = testPlanner(t, &mem)
			}
			_, err := ClientHandshake(dial(t, a), clientParams(0), plan)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("ClientHandshake = %v, want %q", err, tt.wantErr)
			}
			msgs := <-seen
			if last := msgs[len(msgs)-1]; last != (Disconnect{Reason: tt.wantReason}) {
				t.Errorf("server received %#v last, want DISCONNECT %q", msgs, tt.wantReason)
			}
		})
	}
}

func TestClientHandshakeBadParams(t *testing.T) {
	t.Parallel()
	a, _ := connPair(t)
	var mem clientMemory
	p := clientParams(0)
	p.Secret = strings.Repeat("s", 24)
	if _, err := ClientHandshake(a, p, testPlanner(t, &mem)); err == nil || err.Error() != "memif: client handshake: secret is 24 bytes, at most 23 fit" {
		t.Errorf("24-byte secret: %v", err)
	}
	p = clientParams(0)
	p.Mode = 9
	if _, err := ClientHandshake(a, p, testPlanner(t, &mem)); err == nil || err.Error() != "memif: client handshake: mode 9 out of range (0 ethernet, 1 ip, 2 punt-inject)" {
		t.Errorf("mode 9: %v", err)
	}
	if _, err := ClientHandshake(a, clientParams(0), nil); err == nil {
		t.Error("nil plan accepted")
	}
}

func TestOfferCheck(t *testing.T) {
	t.Parallel()
	good := func() *Offer {
		return &Offer{
			Regions: []RegionOffer{{Size: 4096, FD: 3}},
			Rings: []RingOffer{
				{Msg: AddRing{Flags: RingFlagC2S, Log2RingSize: 10}, FD: 4},
				{Msg: AddRing{Log2RingSize: 10}, FD: 5},
			},
		}
	}
	if err := good().check(defaultHello); err != nil {
		t.Fatalf("good offer: %v", err)
	}
	tests := []struct {
		mod   func(o *Offer)
		hello Hello
		want  string
	}{
		{func(o *Offer) { o.Regions = nil }, defaultHello, "no regions"},
		{func(o *Offer) { o.Regions = append(o.Regions, o.Regions[0]) }, Hello{MaxRegion: 0, MaxLog2RingSize: 14}, "2 regions, the server accepts region indices up to 0"},
		{func(o *Offer) { o.Regions[0].FD = -1 }, defaultHello, "region 0 has no fd"},
		{func(o *Offer) { o.Regions[0].Size = 0 }, defaultHello, "region 0 has size 0"},
		{func(o *Offer) { o.Rings[0], o.Rings[1] = o.Rings[1], o.Rings[0] }, defaultHello, "ring 1: C2S ring after an S2C ring (all C2S rings go first)"},
		{func(o *Offer) { o.Rings[0].Msg.Index = 1 }, defaultHello, "ring 0: C2S ring index 1, want 0"},
		{func(o *Offer) { o.Rings[1].Msg.Index = 2 }, defaultHello, "ring 1: S2C ring index 2, want 0"},
		{func(o *Offer) { o.Rings[1].FD = -1 }, defaultHello, "ring 1 has no eventfd"},
		{func(o *Offer) { o.Rings[1].Msg.Region = 1 }, defaultHello, "ring 1: region 1 not offered (1 regions)"},
		{func(o *Offer) { o.Rings[0].Msg.Log2RingSize = 11 }, Hello{MaxLog2RingSize: 10, MaxS2CRing: 1, MaxC2SRing: 1}, "ring 0: log2 ring size 11, the server accepts at most 10"},
		{func(o *Offer) { o.Rings[0].Msg.Log2RingSize = 0 }, defaultHello, "ring 0: memif: ADD_RING: log2_ring_size 0 out of range (1..14)"},
		{func(o *Offer) { o.Rings[0].Msg.PrivateHdrSize = 8 }, defaultHello, "ring 0: private header size 8, peers accept only 0"},
		{func(o *Offer) { o.Rings = o.Rings[:1] }, defaultHello, "1 C2S and 0 S2C rings, need at least one each way"},
		{func(o *Offer) {
			o.Rings = append(o.Rings, RingOffer{Msg: AddRing{Index: 1, Log2RingSize: 10}, FD: 6})
		}, Hello{MaxLog2RingSize: 14, MaxC2SRing: 1, MaxS2CRing: 0}, "2 S2C rings, the server accepts indices up to 0"},
	}
	for _, tt := range tests {
		o := good()
		tt.mod(o)
		if err := o.check(tt.hello); err == nil || err.Error() != tt.want {
			t.Errorf("check = %v, want %q", err, tt.want)
		}
	}
}

// A raw client speaking out of turn, or sending what the server must refuse.
func TestServerRefusesProtocolViolations(t *testing.T) {
	t.Parallel()
	type step struct {
		m   Message
		raw []byte // sent instead of m when set
		fd  bool   // attach the leak-check pipe
		ack bool   // expect ACK (else the final DISCONNECT)
	}
	init := Init{Version: Version, ID: 5}
	region := step{m: AddRegion{Index: 0, Size: 4096}, fd: true, ack: true}
	c2s := step{m: AddRing{Flags: RingFlagC2S, Index: 0, Log2RingSize: 10}, fd: true, ack: true}
	initStep := step{m: init, ack: true}
	rawType := func(t uint16, f func(b []byte)) []byte {
		b := make([]byte, MsgSize)
		le.PutUint16(b, t)
		if f != nil {
			f(b)
		}
		return b
	}
	tests := []struct {
		name   string
		steps  []step
		reason string
	}{
		{"ADD_REGION before INIT", []step{{m: AddRegion{Size: 4096}, fd: true}}, "Unexpected message"},
		{"CONNECT before INIT", []step{{m: Connect{}}}, "Unexpected message"},
		{"HELLO from client", []step{{m: defaultHello}}, "Unexpected message"},
		{"INIT version", []step{{m: Init{Version: 0x0201, ID: 5}}}, "Incompatible memif version"},
		{"INIT unknown id", []step{{m: Init{Version: Version, ID: 6}}}, "ID not found"},
		{"INIT twice", []step{initStep, {m: init}}, "Unexpected message"},
		{"ACK from client", []step{initStep, {m: Ack{}}}, "Unexpected message"},
		{"region without fd", []step{initStep, {m: AddRegion{Index: 0, Size: 4096}}}, "Missing region fd"},
		{"region out of order", []step{initStep, {m: AddRegion{Index: 1, Size: 4096}, fd: true}}, "Invalid region index"},
		{"region beyond limits", []step{initStep, region, {m: AddRegion{Index: 1, Size: 4096}, fd: true}}, "Invalid region index"},
		{"region size 0", []step{initStep, {m: AddRegion{Index: 0}, fd: true}}, "Invalid region size"},
		{"ring without fd", []step{initStep, region, {m: AddRing{Flags: RingFlagC2S, Log2RingSize: 10}}}, "Missing interrupt fd"},
		{"ring private header", []step{initStep, region, {m: AddRing{Flags: RingFlagC2S, Log2RingSize: 10, PrivateHdrSize: 16}, fd: true}}, "private headers not supported"},
		{"ring out of order", []step{initStep, region, {m: AddRing{Flags: RingFlagC2S, Index: 1, Log2RingSize: 10}, fd: true}}, "Invalid ring index"},
		{"more rings than queues", []step{initStep, region, c2s, {m: AddRing{Flags: RingFlagC2S, Index: 1, Log2RingSize: 10}, fd: true}}, "Invalid ring index"},
		{"ring in missing region", []step{initStep, region, {m: AddRing{Region: 1, Log2RingSize: 10}, fd: true}}, "Invalid region index"},
		{"ring before any region", []step{initStep, {m: AddRing{Log2RingSize: 10}, fd: true}}, "Invalid region index"},
		{"ring larger than HELLO", []step{initStep, region, {m: AddRing{Log2RingSize: 13}, fd: true}}, "Invalid ring size"},
		{"CONNECT without S2C ring", []step{initStep, region, c2s, {m: Connect{IfName: "x"}}}, "Missing rings (need at least one C2S and one S2C ring)"},
		{"CONNECT without rings", []step{initStep, {m: Connect{IfName: "x"}}}, "Missing rings (need at least one C2S and one S2C ring)"},
		{"undersized", []step{initStep, region, {raw: make([]byte, 100), fd: true}}, "Invalid message size"},
		{"oversized", []step{initStep, {raw: make([]byte, 200)}}, "Invalid message size"},
		{"NONE", []step{{raw: rawType(0, nil)}}, "Unknown message type"},
		{"type 9", []step{initStep, region, {raw: rawType(9, nil), fd: true}}, "Unknown message type"},
		{"INIT mode 5", []step{{raw: rawType(3, func(b []byte) { b[2], b[3], b[4], b[8] = 0, 2, 5, 5 })}}, "Invalid INIT mode"},
		{"ADD_RING bad flags", []step{initStep, region, {raw: rawType(5, func(b []byte) { b[2], b[12] = 4, 10 }), fd: true}}, "Invalid ADD_RING flags"},
	}
	iface := newTestIface("srv")
	iface.limits = Limits{C2SRings: 1, S2CRings: 1, Regions: 1}
	ts := startServer(t, ServerConfig{MaxLog2RingSize: 12}, map[uint32]*testIface{5: iface})
	hello := defaultHello
	hello.MaxLog2RingSize = 12
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lc := newLeakCheck(t)
			c := dial(t, ts.addr)
			expectMsg(t, c, hello)
			for i, s := range tt.steps {
				fd := -1
				if s.fd {
					fd = lc.fd()
				}
				var err error
				if s.raw != nil {
					err = c.sendRaw(s.raw, fd, MsgNone)
				} else {
					err = c.Send(s.m, fd)
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if s.ack {
					expectMsg(t, c, Ack{})
				}
			}
			expectDisconnect(t, c, tt.reason)
			lc.assertClosed(t)
		})
	}
	t.Cleanup(func() {
		// Every refusal was reported, none reached the interface.
		if len(iface.calls) != 0 {
			t.Errorf("interface Connect called %d times", len(iface.calls))
		}
	})
}

func TestServerDropsStalledClient(t *testing.T) {
	t.Parallel()
	iface := newTestIface("srv")
	ts := startServer(t, ServerConfig{StepTimeout: time.Second}, map[uint32]*testIface{1: iface})

	mute := dial(t, ts.addr) // never reads, never writes
	staller := dial(t, ts.addr)
	expectMsg(t, staller, defaultHello)

	// Both are pending; a real client is served meanwhile.
	var mem clientMemory
	if _, err := ClientHandshake(dial(t, ts.addr), clientParams(1), testPlanner(t, &mem)); err != nil {
		t.Fatalf("client behind a staller: %v", err)
	}
	iface.takeCall(t)
	if _, _, err := staller.Recv(time.Now().Add(time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("staller already dropped (%v): the test did not overlap", err)
	}

	// Then both are dropped without a DISCONNECT.
	if _, _, err := staller.Recv(time.Now().Add(5 * time.Second)); !errors.Is(err, io.EOF) {
		t.Fatalf("staller: %v, want EOF", err)
	}
	expectMsg(t, mute, defaultHello)
	if _, _, err := mute.Recv(time.Now().Add(5 * time.Second)); !errors.Is(err, io.EOF) {
		t.Fatalf("mute client: %v, want EOF", err)
	}
	for range 2 {
		err := ts.nextError(t)
		if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "no message from the client within 1s after HELLO") {
			t.Errorf("server reported %v", err)
		}
	}
}

func TestServerMaxPending(t *testing.T) {
	t.Parallel()
	iface := newTestIface("srv")
	ts := startServer(t, ServerConfig{StepTimeout: 500 * time.Millisecond, MaxPending: 1}, map[uint32]*testIface{1: iface})
	staller := dial(t, ts.addr)
	expectMsg(t, staller, defaultHello) // registered as pending

	over := dial(t, ts.addr)
	if m, _, err := over.Recv(time.Now().Add(5 * time.Second)); !errors.Is(err, io.EOF) {
		t.Fatalf("connection beyond MaxPending: %#v, %v; want EOF without HELLO", m, err)
	}
	if err := ts.nextError(t); !strings.Contains(err.Error(), "1 handshakes pending, dropped a new connection") {
		t.Errorf("server reported %v", err)
	}
	if _, _, err := staller.Recv(time.Now().Add(5 * time.Second)); !errors.Is(err, io.EOF) {
		t.Fatalf("staller: %v, want EOF", err)
	}
	var mem clientMemory
	if _, err := ClientHandshake(dial(t, ts.addr), clientParams(1), testPlanner(t, &mem)); err != nil {
		t.Fatalf("client after the staller left: %v", err)
	}
	iface.takeCall(t)
}

func TestServerClose(t *testing.T) {
	t.Parallel()
	iface := newTestIface("srv")
	ts := startServer(t, ServerConfig{StepTimeout: 10 * time.Second}, map[uint32]*testIface{1: iface})

	// An established connection belongs to the interface and survives.
	est := dial(t, ts.addr)
	var mem clientMemory
	if _, err := ClientHandshake(est, clientParams(1), testPlanner(t, &mem)); err != nil {
		t.Fatal(err)
	}
	call := iface.takeCall(t)

	staller := dial(t, ts.addr)
	expectMsg(t, staller, defaultHello)

	start := time.Now()
	if err := ts.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("Close took %v with a pending handshake", el)
	}
	if _, _, err := staller.Recv(time.Now().Add(5 * time.Second)); !errors.Is(err, io.EOF) {
		t.Errorf("pending client after Close: %v, want EOF", err)
	}
	if _, err := os.Lstat(ts.addr.Name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v", err)
	}
	if err := call.c.Send(Disconnect{Reason: "still here"}, -1); err != nil {
		t.Fatal(err)
	}
	expectMsg(t, est, Disconnect{Reason: "still here"})
	if err := ts.s.Register(9, iface); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Register after Close: %v, want net.ErrClosed", err)
	}
	if err := ts.s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ts.noError(t) // aborting a handshake is not the client's failure
}

func TestServerRegister(t *testing.T) {
	t.Parallel()
	iface := newTestIface("srv")
	ts := startServer(t, ServerConfig{}, map[uint32]*testIface{1: iface})
	want := "memif: register id 1 on " + ts.addr.Name + ": id already registered"
	if err := ts.s.Register(1, newTestIface("other")); err == nil || err.Error() != want {
		t.Errorf("duplicate Register = %v, want %q", err, want)
	}
	if err := ts.s.Register(2, nil); err == nil {
		t.Error("Register of a nil interface succeeded")
	}

	// Unregistered between INIT and CONNECT: refused at CONNECT.
	lc := newLeakCheck(t)
	c := dial(t, ts.addr)
	expectMsg(t, c, defaultHello)
	sendExpect(t, c, Init{Version: Version, ID: 1}, -1, Ack{})
	sendExpect(t, c, AddRegion{Size: 4096}, lc.fd(), Ack{})
	sendExpect(t, c, AddRing{Flags: RingFlagC2S, Log2RingSize: 10}, lc.fd(), Ack{})
	sendExpect(t, c, AddRing{Log2RingSize: 10}, lc.fd(), Ack{})
	ts.s.Unregister(1)
	if err := c.Send(Connect{IfName: "x"}, -1); err != nil {
		t.Fatal(err)
	}
	expectDisconnect(t, c, "ID not found")
	lc.assertClosed(t)

	// And new clients are told the id is gone.
	var mem clientMemory
	_, err := ClientHandshake(dial(t, ts.addr), clientParams(1), testPlanner(t, &mem))
	var de *DisconnectError
	if !errors.As(err, &de) || de.Reason != "ID not found" {
		t.Errorf("after Unregister: %v", err)
	}
}

// A client that connects while the server is being set up (listening, its
// interfaces not registered yet) waits in the backlog and is served once
// Start runs, instead of being refused "ID not found"; a server closed
// before Start closes the waiting connection.
func TestServerStartAfterRegister(t *testing.T) {
	t.Parallel()
	addr := fileAddr(t)
	l, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(l, ServerConfig{Name: "memifpcap-test"})
	t.Cleanup(func() { s.Close() })
	early := dial(t, addr) // in the backlog: nobody accepts yet
	// No HELLO before Start (a server that accepted at once would send
	// it, and refuse the INIT with "ID not found").
	if m, _, err := early.Recv(time.Now().Add(200 * time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("before Start the client got %v, %v; want nothing", m, err)
	}
	iface := newTestIface("late")
	if err := s.Register(3, iface); err != nil {
		t.Fatal(err)
	}
	s.Start()
	s.Start() // a second call does nothing
	var mem clientMemory
	if _, err := ClientHandshake(early, clientParams(3), testPlanner(t, &mem)); err != nil {
		t.Fatalf("the client that connected before Start: %v", err)
	}
	iface.takeCall(t)

	// Closed before it ever started: the queued client sees EOF.
	addr2 := fileAddr(t)
	l2, err := Listen(addr2)
	if err != nil {
		t.Fatal(err)
	}
	s2 := NewServer(l2, ServerConfig{})
	queued := dial(t, addr2)
	if err := s2.Close(); err != nil {
		t.Fatalf("Close of a server never started: %v", err)
	}
	s2.Start() // after Close: nothing
	if _, _, err := queued.Recv(time.Now().Add(5 * time.Second)); err == nil {
		t.Fatal("a client of a server closed before Start got a message")
	}
}
