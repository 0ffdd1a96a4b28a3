package control

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStepTimeout is how long a handshake waits for each message when no
// StepTimeout is configured.
const DefaultStepTimeout = 5 * time.Second

// ClientParams configure the client side of a handshake.
type ClientParams struct {
	ID     uint32 // interface id; the server looks its interface up by it
	Mode   Mode
	Secret string // at most SecretSize-1 bytes; "" for none
	Name   string // our application name (INIT name)
	IfName string // our interface name (CONNECT if_name)
	// StepTimeout bounds the wait for each reply; 0 means DefaultStepTimeout.
	StepTimeout time.Duration
}

// RegionOffer is one shared memory region: its size and the fd to map.
type RegionOffer struct {
	Size uint64
	FD   int
}

// RingOffer is one ring: its ADD_RING message and its eventfd.
type RingOffer struct {
	Msg AddRing
	FD  int
}

// Offer is the shared memory a client describes during the handshake.
// Regions are indexed by position. Rings hold all C2S rings 0..n-1 first,
// then all S2C rings 0..m-1: the order every peer sends them in.
type Offer struct {
	Regions []RegionOffer
	Rings   []RingOffer
}

// closeFDs closes every fd in o; the server does so on every failure.
func (o *Offer) closeFDs() {
	for _, r := range o.Regions {
		if r.FD >= 0 {
			unix.Close(r.FD)
		}
	}
	for _, r := range o.Rings {
		if r.FD >= 0 {
			unix.Close(r.FD)
		}
	}
}

// check validates a client's own offer against the server's HELLO, so a
// planner bug is reported here instead of as a peer's terse refusal.
func (o *Offer) check(h Hello) error {
	if len(o.Regions) == 0 {
		return errors.New("no regions")
	}
	if len(o.Regions)-1 > int(h.MaxRegion) {
		return fmt.Errorf("%d regions, the server accepts region indices up to %d", len(o.Regions), h.MaxRegion)
	}
	for i, r := range o.Regions {
		if r.FD < 0 {
			return fmt.Errorf("region %d has no fd", i)
		}
		if r.Size == 0 {
			return fmt.Errorf("region %d has size 0", i)
		}
	}
	var nC2S, nS2C int
	for i, r := range o.Rings {
		m := r.Msg
		if err := checkAddRing(&m); err != nil {
			return fmt.Errorf("ring %d: %w", i, err)
		}
		if m.Flags&RingFlagC2S != 0 {
			if nS2C > 0 {
				return fmt.Errorf("ring %d: C2S ring after an S2C ring (all C2S rings go first)", i)
			}
			if int(m.Index) != nC2S {
				return fmt.Errorf("ring %d: C2S ring index %d, want %d", i, m.Index, nC2S)
			}
			nC2S++
		} else {
			if int(m.Index) != nS2C {
				return fmt.Errorf("ring %d: S2C ring index %d, want %d", i, m.Index, nS2C)
			}
			nS2C++
		}
		if r.FD < 0 {
			return fmt.Errorf("ring %d has no eventfd", i)
		}
		if int(m.Region) >= len(o.Regions) {
			return fmt.Errorf("ring %d: region %d not offered (%d regions)", i, m.Region, len(o.Regions))
		}
		if m.Log2RingSize > h.MaxLog2RingSize {
			return fmt.Errorf("ring %d: log2 ring size %d, the server accepts at most %d", i, m.Log2RingSize, h.MaxLog2RingSize)
		}
		if m.PrivateHdrSize != 0 {
			return fmt.Errorf("ring %d: private header size %d, peers accept only 0", i, m.PrivateHdrSize)
		}
	}
	if nC2S == 0 || nS2C == 0 {
		return fmt.Errorf("%d C2S and %d S2C rings, need at least one each way", nC2S, nS2C)
	}
	if nC2S-1 > int(h.MaxC2SRing) {
		return fmt.Errorf("%d C2S rings, the server accepts indices up to %d", nC2S, h.MaxC2SRing)
	}
	if nS2C-1 > int(h.MaxS2CRing) {
		return fmt.Errorf("%d S2C rings, the server accepts indices up to %d", nS2C, h.MaxS2CRing)
	}
	return nil
}

// ClientResult is what a successful client handshake learned.
type ClientResult struct {
	Hello      Hello  // the server's HELLO
	PeerIfName string // the server's CONNECTED if_name
}

// DisconnectError is a DISCONNECT received from the server during the
// handshake. Reason is the server's text, verbatim: it is the only place a
// secret, id or mode mismatch is explained.
type DisconnectError struct {
	Code   uint32
	Reason string
}

func (e *DisconnectError) Error() string {
	if e.Reason == "" {
		return "memif: server refused the connection (no reason given)"
	}
	return "memif: server refused the connection: " + e.Reason
}

// stepError is an error whose text is complete on its own but which still
// wraps the cause for errors.Is (io.EOF, os.ErrDeadlineExceeded).
type stepError struct {
	msg string
	err error
}

func (e *stepError) Error() string { return e.msg }
func (e *stepError) Unwrap() error { return e.err }

// ClientHandshake runs the client side of the memif handshake on c, which the
// caller has dialled and still owns (close it on error):
//
//	HELLO → INIT → ACK → (ADD_REGION+fd → ACK)… → (ADD_RING+eventfd → ACK)… → CONNECT → CONNECTED
//
// One message per reply, like every peer: pipelining is untested by them.
// plan is called once HELLO has arrived and its version range includes ours;
// it builds the shared memory within the HELLO limits and returns what to
// send. The fds in the offer stay owned by the caller.
//
// Errors: a DISCONNECT from the server is a *DisconnectError carrying its
// reason. A server that closes without one (libmemif on an unknown id, VPP
// on a version mismatch) gives an error naming the step and wrapping io.EOF;
// one that stalls, an error naming the step and wrapping
// os.ErrDeadlineExceeded. When we give up on the server we first send it a
// DISCONNECT with DPDK's reason strings.
func ClientHandshake(c *Conn, p ClientParams, plan func(Hello) (*Offer, error)) (*ClientResult, error) {
	if c == nil || plan == nil {
		return nil, errors.New("memif: client handshake: nil Conn or plan")
	}
	if len(p.Secret) > SecretSize-1 {
		return nil, fmt.Errorf("memif: client handshake: secret is %d bytes, at most %d fit", len(p.Secret), SecretSize-1)
	}
	if p.Mode > maxMode {
		return nil, fmt.Errorf("memif: client handshake: mode %d out of range %s", p.Mode, modeRangeString)
	}
	h := clientHandshake{c: c, timeout: p.StepTimeout}
	if h.timeout <= 0 {
		h.timeout = DefaultStepTimeout
	}

	m, err := h.await(MsgHello, "after connecting")
	if err != nil {
		return nil, err
	}
	hello := m.(Hello)
	if hello.MinVersion > Version || Version > hello.MaxVersion {
		h.refuse(ReasonVersion)
		return nil, fmt.Errorf("memif: client handshake: server %q speaks memif versions 0x%04x..0x%04x, we speak 0x%04x",
			hello.Name, hello.MinVersion, hello.MaxVersion, Version)
	}

	offer, err := plan(hello)
	if err == nil && offer == nil {
		err = errors.New("no offer")
	}
	if err == nil {
		err = offer.check(hello)
	}
	if err != nil {
		h.refuse(ReasonSetupFailed + ": " + err.Error())
		return nil, fmt.Errorf("memif: client handshake: planning shared memory for server %q: %w", hello.Name, err)
	}

	if err := h.send(Init{Version: Version, ID: p.ID, Mode: p.Mode, Secret: p.Secret, Name: p.Name}, -1, "after HELLO"); err != nil {
		return nil, err
	}
	if _, err := h.await(MsgAck, "after INIT"); err != nil {
		return nil, err
	}
	prev := "INIT"
	for i, r := range offer.Regions {
		if err := h.send(AddRegion{Index: uint16(i), Size: r.Size}, r.FD, "after "+prev+" was acknowledged"); err != nil {
			return nil, err
		}
		prev = fmt.Sprintf("ADD_REGION %d", i)
		if _, err := h.await(MsgAck, "after "+prev); err != nil {
			return nil, err
		}
	}
	for _, r := range offer.Rings {
		if err := h.send(r.Msg, r.FD, "after "+prev+" was acknowledged"); err != nil {
			return nil, err
		}
		dir := "S2C"
		if r.Msg.Flags&RingFlagC2S != 0 {
			dir = "C2S"
		}
		prev = fmt.Sprintf("ADD_RING %s %d", dir, r.Msg.Index)
		if _, err := h.await(MsgAck, "after "+prev); err != nil {
			return nil, err
		}
	}
	if err := h.send(Connect{IfName: p.IfName}, -1, "after "+prev+" was acknowledged"); err != nil {
		return nil, err
	}
	m, err = h.await(MsgConnected, "after CONNECT")
	if err != nil {
		return nil, err
	}
	return &ClientResult{Hello: hello, PeerIfName: m.(Connected).IfName}, nil
}

type clientHandshake struct {
	c       *Conn
	timeout time.Duration
}

// refuse tells the server why we give up. Best effort: we are failing anyway.
func (h *clientHandshake) refuse(reason string) {
	h.c.Send(Disconnect{Reason: reason}, -1)
}

func (h *clientHandshake) send(m Message, fd int, when string) error {
	err := h.c.Send(m, fd)
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return &stepError{fmt.Sprintf("memif: server closed the control channel %s with no reason given", when), err}
	}
	return fmt.Errorf("memif: client handshake: %w", err)
}

// await receives the server's answer to the step described by when, which
// must be a message of type want.
func (h *clientHandshake) await(want MsgType, when string) (Message, error) {
	m, fd, err := h.c.Recv(time.Now().Add(h.timeout))
	if fd >= 0 {
		unix.Close(fd) // no server message carries an fd
	}
	if err != nil {
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			return nil, &stepError{fmt.Sprintf("memif: server closed the control channel %s with no reason given", when), err}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, &stepError{fmt.Sprintf("memif: client handshake: no %s from the server within %v %s", want, h.timeout, when), err}
		case errors.Is(err, ErrMessageSize):
			h.refuse(ReasonMsgSize)
		case errors.Is(err, ErrUnknownType):
			h.refuse(ReasonUnknownType)
		default:
			var me *MessageError
			if errors.As(err, &me) {
				h.refuse(fmt.Sprintf("Invalid %s %s", me.Type, me.Field))
			}
		}
		return nil, fmt.Errorf("memif: client handshake: waiting for %s %s: %w", want, when, err)
	}
	if d, ok := m.(Disconnect); ok {
		return nil, &DisconnectError{Code: d.Code, Reason: d.Reason}
	}
	if m.Type() != want {
		h.refuse(ReasonUnexpected)
		return nil, fmt.Errorf("memif: client handshake: expected %s %s, got %s", want, when, m.Type())
	}
	return m, nil
}
