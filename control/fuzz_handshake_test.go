//go:build linux

package control

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The fuzz inputs are scripts of peer messages. Each record is one header
// byte and up to 128 message bytes:
//
//	header bits 0-1: fds attached (0 none, 1 a memfd, 2 an eventfd, 3 both)
//	header bit 2:    send only the first 64 bytes (a short message)
//	header bit 3:    append 72 bytes (a long one)
//
// A record shorter than 129 bytes (the last) is sent as it is.
const recordSize = 1 + MsgSize

type record struct {
	msg []byte
	fds []int
}

func records(t testing.TB, data []byte, memfd, evfd int) []record {
	var out []record
	for len(data) > 0 {
		n := min(len(data), recordSize)
		r, hdr := data[1:n], data[0]
		data = data[n:]
		msg := append([]byte(nil), r...)
		switch {
		case hdr&4 != 0 && len(msg) > 64:
			msg = msg[:64]
		case hdr&8 != 0:
			msg = append(msg, make([]byte, 72)...)
		}
		var fds []int
		if hdr&1 != 0 {
			fds = append(fds, memfd)
		}
		if hdr&2 != 0 {
			fds = append(fds, evfd)
		}
		out = append(out, record{msg, fds})
	}
	return out
}

func rec(hdr byte, m Message) []byte {
	var b [MsgSize]byte
	if err := Marshal(m, &b); err != nil {
		panic(err)
	}
	return append([]byte{hdr}, b[:]...)
}

func script(rs ...[]byte) []byte {
	var out []byte
	for _, r := range rs {
		out = append(out, r...)
	}
	return out
}

// seqpacketPair returns two connected Conns.
func seqpacketPair(t testing.TB) (*Conn, *Conn) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *Conn {
		f := os.NewFile(uintptr(fd), "seqpacket")
		defer f.Close()
		nc, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return newConn(nc.(*net.UnixConn))
	}
	return conn(fds[0]), conn(fds[1])
}

// shutWrite makes the peer's next read after the queued messages see EOF.
func shutWrite(c *Conn) {
	if rc, err := c.uc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_WR) })
	}
}

func fuzzFDs(t testing.TB) (memfd, evfd int) {
	memfd, err := unix.MemfdCreate("fuzz", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	unix.Ftruncate(memfd, 4096)
	evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(memfd); unix.Close(evfd) })
	return memfd, evfd
}

type fuzzIface struct {
	t       *testing.T
	admit   bool
	connect bool
}

func (f *fuzzIface) Admit(Init) (Limits, error) {
	if !f.admit {
		return Limits{}, &RejectError{Reason: "no"}
	}
	return Limits{C2SRings: 2, S2CRings: 1, Regions: 3}, nil
}

func (f *fuzzIface) Connect(c *Conn, init Init, offer *Offer, peer string) (string, error) {
	var c2s, s2c int
	for _, r := range offer.Rings {
		if r.FD < 0 {
			f.t.Fatalf("Connect got a ring without an fd")
		}
		if int(r.Msg.Region) >= len(offer.Regions) {
			f.t.Fatalf("Connect got a ring in region %d of %d", r.Msg.Region, len(offer.Regions))
		}
		if r.Msg.Flags&RingFlagC2S != 0 {
			if s2c > 0 || int(r.Msg.Index) != c2s {
				f.t.Fatalf("rings out of order: %+v", offer.Rings)
			}
			c2s++
		} else {
			if int(r.Msg.Index) != s2c {
				f.t.Fatalf("rings out of order: %+v", offer.Rings)
			}
			s2c++
		}
	}
	if c2s == 0 || s2c == 0 || c2s > 2 || s2c > 1 || len(offer.Regions) == 0 || len(offer.Regions) > 3 {
		f.t.Fatalf("Connect with %d C2S, %d S2C rings and %d regions", c2s, s2c, len(offer.Regions))
	}
	for _, r := range offer.Regions {
		if r.FD < 0 || r.Size == 0 {
			f.t.Fatalf("Connect got region %+v", r)
		}
	}
	if !f.connect {
		return "", errors.New("refused by the fuzz interface")
	}
	// We own c and the fds now.
	offer.closeFDs()
	c.Close()
	return "fuzz", nil
}

// FuzzServerHandshake runs the server's handshake state machine against a
// client sending any script of messages and fds. It must end (the script
// ends with EOF), never panic, and hand over only complete offers.
func FuzzServerHandshake(f *testing.F) {
	init := Init{Version: Version, ID: 0, Name: "fuzz"}
	region := AddRegion{Index: 0, Size: 4096}
	c2s := AddRing{Flags: RingFlagC2S, Log2RingSize: 4}
	s2c := AddRing{Log2RingSize: 4}
	f.Add(script(rec(0, init), rec(1, region), rec(2, c2s), rec(2, s2c), rec(0, Connect{IfName: "x"})), true, true)
	f.Add(script(rec(0, init), rec(1, region), rec(2, s2c), rec(2, c2s), rec(0, Connect{})), true, false)
	f.Add(script(rec(0, init), rec(0, region), rec(2, c2s)), true, true)
	f.Add(script(rec(0, init), rec(3, region), rec(4, c2s)), true, true)
	f.Add(script(rec(8, init), rec(1, AddRegion{Index: 1, Size: 1})), false, true)
	f.Add(script(rec(0, Connect{}), rec(0, Disconnect{Reason: "bye"})), true, true)
	f.Add([]byte{0, 3, 0}, true, true)
	f.Fuzz(func(t *testing.T, data []byte, admit, connect bool) {
		memfd, evfd := fuzzFDs(t)
		srvSide, cliSide := seqpacketPair(t)
		defer cliSide.Close()
		s := &Server{cfg: ServerConfig{MaxRegion: 255, MaxRings: 255, MaxLog2RingSize: 14, StepTimeout: 5 * time.Second},
			ifaces: map[uint32]ServerInterface{0: &fuzzIface{t, admit, connect}}, pending: map[*Conn]struct{}{}}
		h := serverHandshake{s: s, c: srvSide}
		type result struct {
			handed bool
			err    error
		}
		done := make(chan result, 1)
		go func() {
			handed, err := h.run()
			done <- result{handed, err}
		}()
		recs := records(t, data, memfd, evfd)
		go func() { // the client: may block on a full socket until the server closes
			for _, r := range recs {
				if cliSide.sendRawFDs(r.msg, r.fds) != nil {
					break
				}
			}
			shutWrite(cliSide)
		}()
		go func() { // drain the server's answers so it never blocks
			for {
				_, fd, err := cliSide.Recv(time.Time{})
				closeIfFD(fd)
				if err != nil && !errors.Is(err, ErrMessageSize) && !errors.Is(err, ErrUnknownType) {
					return
				}
			}
		}()
		var res result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the server handshake did not end")
		}
		if !res.handed {
			h.offer.closeFDs()
			srvSide.Close()
			if res.err == nil {
				t.Fatal("handshake ended without a connection and without an error")
			}
		}
	})
}

func (c *Conn) sendRawFDs(b []byte, fds []int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err := c.uc.WriteMsgUnix(b, oob, nil)
	return err
}

// FuzzClientHandshake runs ClientHandshake against a server answering each
// client message with the next record of the script. It must end, never
// panic, and succeed only after a CONNECTED.
func FuzzClientHandshake(f *testing.F) {
	hello := Hello{Name: "fuzz", MinVersion: Version, MaxVersion: Version, MaxRegion: 1, MaxS2CRing: 1, MaxC2SRing: 1, MaxLog2RingSize: 10}
	f.Add(script(rec(0, hello), rec(0, Ack{}), rec(0, Ack{}), rec(0, Ack{}), rec(0, Ack{}), rec(0, Connected{IfName: "s"})))
	f.Add(script(rec(0, hello), rec(0, Ack{}), rec(0, Disconnect{Reason: "no"})))
	f.Add(script(rec(1, hello), rec(4, Ack{})))
	f.Add(script(rec(0, Hello{MinVersion: 0x100, MaxVersion: 0x100})))
	f.Add(script(rec(0, Hello{MinVersion: Version, MaxVersion: Version})))
	f.Add(script(rec(0, hello), rec(0, Connected{})))
	f.Add([]byte{8, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		memfd, evfd := fuzzFDs(t)
		cliSide, srvSide := seqpacketPair(t)
		defer cliSide.Close()
		recs := records(t, data, memfd, evfd)
		go func() {
			defer srvSide.Close()
			for i, r := range recs {
				if srvSide.sendRawFDs(r.msg, r.fds) != nil {
					return
				}
				if i == len(recs)-1 {
					break
				}
				_, fd, err := srvSide.Recv(time.Now().Add(5 * time.Second))
				closeIfFD(fd) // the client's region and ring fds: the harness keeps none
				if err != nil {
					return
				}
			}
			shutWrite(srvSide)
			for { // drain until the client closes
				_, fd, err := srvSide.Recv(time.Now().Add(5 * time.Second))
				closeIfFD(fd)
				if err != nil && !errors.Is(err, ErrMessageSize) && !errors.Is(err, ErrUnknownType) {
					return
				}
			}
		}()
		planned := false
		res, err := ClientHandshake(cliSide, ClientParams{Name: "fuzz", StepTimeout: 5 * time.Second}, func(h Hello) (*Offer, error) {
			planned = true
			log2 := min(h.MaxLog2RingSize, 4)
			if log2 == 0 {
				return nil, errors.New("no ring size")
			}
			return &Offer{
				Regions: []RegionOffer{{Size: 4096, FD: memfd}},
				Rings: []RingOffer{
					{Msg: AddRing{Flags: RingFlagC2S, Log2RingSize: log2}, FD: evfd},
					{Msg: AddRing{Log2RingSize: log2}, FD: evfd},
				},
			}, nil
		})
		if err == nil {
			if !planned || res == nil {
				t.Fatalf("success without a plan (%v) or result (%v)", planned, res)
			}
			if len(recs) < 6 {
				t.Fatalf("success after %d server messages, a handshake needs 6", len(recs))
			}
		}
	})
}

// closeIfFD closes an fd a received message carried (Recv hands it over).
func closeIfFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
