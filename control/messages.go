package control

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MsgSize is the size of every control message. Peers read into a 128-byte
// buffer and reject anything else (DPDK: "Invalid message size").
const MsgSize = 128

// Version is the only protocol version any peer speaks: (major 2 << 8) | minor 0.
// Servers require INIT's version to equal it exactly.
const Version uint16 = 0x0200

// Sizes of the fixed string fields, NUL included.
const (
	NameSize   = 32 // HELLO name, INIT name, CONNECT/CONNECTED if_name
	SecretSize = 24 // INIT secret: at most 23 bytes of text
	ReasonSize = 96 // DISCONNECT string
)

// MaxLog2RingSize is the largest log2 ring size the protocol allows: every
// peer advertises 14 in HELLO.
const MaxLog2RingSize = 14

// MsgType is the u16 at offset 0 of every message.
type MsgType uint16

// Message types. MsgNone is never sent; receivers treat it as unknown.
const (
	MsgNone MsgType = iota
	MsgAck
	MsgHello
	MsgInit
	MsgAddRegion
	MsgAddRing
	MsgConnect
	MsgConnected
	MsgDisconnect
)

var msgTypeNames = [...]string{
	MsgAck:        "ACK",
	MsgHello:      "HELLO",
	MsgInit:       "INIT",
	MsgAddRegion:  "ADD_REGION",
	MsgAddRing:    "ADD_RING",
	MsgConnect:    "CONNECT",
	MsgConnected:  "CONNECTED",
	MsgDisconnect: "DISCONNECT",
}

func (t MsgType) String() string {
	if t != MsgNone && int(t) < len(msgTypeNames) {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("type 0x%04x", uint16(t))
}

// Mode is the interface mode carried in INIT.
type Mode uint8

// Interface modes. DPDK servers accept only ethernet; VPP requires the mode
// to match its own configuration.
const (
	ModeEthernet   Mode = 0
	ModeIP         Mode = 1
	ModePuntInject Mode = 2
)

const (
	maxMode         = ModePuntInject
	modeRangeString = "(0 ethernet, 1 ip, 2 punt-inject)"
)

func (m Mode) String() string {
	switch m {
	case ModeEthernet:
		return "ethernet"
	case ModeIP:
		return "ip"
	case ModePuntInject:
		return "punt-inject"
	}
	return fmt.Sprintf("mode %d", uint8(m))
}

// RingFlagC2S is bit 0 of the ADD_RING flags: the ring carries client->server
// packets (libmemif/VPP call it MEMIF_MSG_ADD_RING_FLAG_S2M; same value).
// A ring without it carries server->client packets.
const RingFlagC2S uint16 = 1

// Message is one decoded control message: one of the value types Ack, Hello,
// Init, AddRegion, AddRing, Connect, Connected and Disconnect.
type Message interface {
	Type() MsgType
}

// Ack acknowledges INIT, ADD_REGION and ADD_RING (server to client).
type Ack struct{}

// Hello is the server's first message: its name and limits. The Max*Ring and
// MaxRegion fields are highest indices, not counts.
type Hello struct {
	Name            string
	MinVersion      uint16
	MaxVersion      uint16
	MaxRegion       uint16
	MaxS2CRing      uint16 // max_m2s_ring in libmemif/VPP
	MaxC2SRing      uint16 // max_s2m_ring in libmemif/VPP
	MaxLog2RingSize uint8
}

// Init identifies the interface the client wants (client to server).
type Init struct {
	Version uint16
	ID      uint32
	Mode    Mode
	Secret  string // at most SecretSize-1 bytes; empty means no secret
	Name    string // client application name
}

// AddRegion announces a shared memory region; its fd travels with it.
type AddRegion struct {
	Index uint16
	Size  uint64
}

// AddRing announces a ring; its eventfd travels with it.
type AddRing struct {
	Flags          uint16 // RingFlagC2S or 0
	Index          uint16 // ring index within its direction
	Region         uint16 // region holding the ring header and descriptors
	Offset         uint32 // ring header offset inside Region
	Log2RingSize   uint8
	PrivateHdrSize uint16 // must be 0; every peer that checks rejects other values
}

// Connect asks the server to bring the link up (client to server).
type Connect struct {
	IfName string
}

// Connected confirms the link is up (server to client).
type Connected struct {
	IfName string
}

// Disconnect ends the connection, with a human-readable reason. Code is
// always 0 in practice.
type Disconnect struct {
	Code   uint32
	Reason string
}

func (Ack) Type() MsgType        { return MsgAck }
func (Hello) Type() MsgType      { return MsgHello }
func (Init) Type() MsgType       { return MsgInit }
func (AddRegion) Type() MsgType  { return MsgAddRegion }
func (AddRing) Type() MsgType    { return MsgAddRing }
func (Connect) Type() MsgType    { return MsgConnect }
func (Connected) Type() MsgType  { return MsgConnected }
func (Disconnect) Type() MsgType { return MsgDisconnect }

// Sentinel errors, wrapped by Unmarshal and Conn.Recv; find them with errors.Is.
var (
	// ErrMessageSize: a message that is not exactly MsgSize bytes.
	ErrMessageSize = errors.New("invalid message size")
	// ErrUnknownType: a message type outside ACK..DISCONNECT (NONE included).
	ErrUnknownType = errors.New("unknown message type")
)

// MessageError reports a field whose value no peer could mean.
type MessageError struct {
	Type  MsgType
	Field string // the C field name, e.g. "mode", "log2_ring_size"
	Msg   string
}

func (e *MessageError) Error() string {
	return fmt.Sprintf("memif: %s: %s %s", e.Type, e.Field, e.Msg)
}

// Field offsets inside the 128-byte message: the packed structs of DPDK's
// drivers/net/memif/memif.h (memif_msg_t and its members), which VPP's
// src/plugins/memif/memif.h and libmemif's memif.h share.
const (
	offType = 0

	offHelloName       = 2
	offHelloMinVersion = 34
	offHelloMaxVersion = 36
	offHelloMaxRegion  = 38
	offHelloMaxS2CRing = 40
	offHelloMaxC2SRing = 42
	offHelloMaxLog2    = 44

	offInitVersion = 2
	offInitID      = 4
	offInitMode    = 8
	offInitSecret  = 9
	offInitName    = 33

	offRegionIndex = 2
	offRegionSize  = 4

	offRingFlags      = 2
	offRingIndex      = 4
	offRingRegion     = 6
	offRingOffset     = 8
	offRingLog2       = 12
	offRingPrivateHdr = 13 // unaligned: the C struct is packed

	offIfName = 2

	offDisconnectCode   = 2
	offDisconnectReason = 6
)

var le = binary.LittleEndian

// Marshal encodes m into b: it zeroes all 128 bytes (peers expect unused
// bytes to be zero), then writes the type and the fields, little-endian.
// Strings are copied like strlcpy: at most size-1 bytes and always a NUL.
// A Secret longer than SecretSize-1 bytes is an error rather than silently
// truncated, since a truncated secret would fail on the peer for no visible
// reason. Values that Unmarshal rejects (mode, log2 ring size, ring flags)
// are refused too, so we never send what a peer must refuse. m may also be a
// pointer to one of the message types.
func Marshal(m Message, b *[MsgSize]byte) error {
	if b == nil {
		return errors.New("memif: marshal: nil buffer")
	}
	*b = [MsgSize]byte{}
	switch v := m.(type) {
	case Ack:
		putType(b, MsgAck)
	case *Ack:
		if v == nil {
			return errNilMessage
		}
		putType(b, MsgAck)
	case Hello:
		return marshalHello(&v, b)
	case *Hello:
		if v == nil {
			return errNilMessage
		}
		return marshalHello(v, b)
	case Init:
		return marshalInit(&v, b)
	case *Init:
		if v == nil {
			return errNilMessage
		}
		return marshalInit(v, b)
	case AddRegion:
		marshalAddRegion(&v, b)
	case *AddRegion:
		if v == nil {
			return errNilMessage
		}
		marshalAddRegion(v, b)
	case AddRing:
		return marshalAddRing(&v, b)
	case *AddRing:
		if v == nil {
			return errNilMessage
		}
		return marshalAddRing(v, b)
	case Connect:
		putType(b, MsgConnect)
		putString(b[offIfName:offIfName+NameSize], v.IfName)
	case *Connect:
		if v == nil {
			return errNilMessage
		}
		putType(b, MsgConnect)
		putString(b[offIfName:offIfName+NameSize], v.IfName)
	case Connected:
		putType(b, MsgConnected)
		putString(b[offIfName:offIfName+NameSize], v.IfName)
	case *Connected:
		if v == nil {
			return errNilMessage
		}
		putType(b, MsgConnected)
		putString(b[offIfName:offIfName+NameSize], v.IfName)
	case Disconnect:
		marshalDisconnect(&v, b)
	case *Disconnect:
		if v == nil {
			return errNilMessage
		}
		marshalDisconnect(v, b)
	case nil:
		return errNilMessage
	default:
		return fmt.Errorf("memif: marshal: unsupported message %T", m)
	}
	return nil
}

var errNilMessage = errors.New("memif: marshal: nil message")

func putType(b *[MsgSize]byte, t MsgType) {
	le.PutUint16(b[offType:], uint16(t))
}

// putString copies s like strlcpy: at most len(field)-1 bytes, NUL-padded.
// field is already zero.
func putString(field []byte, s string) {
	if len(s) > len(field)-1 {
		s = s[:len(field)-1]
	}
	copy(field, s)
}

// getString returns the bytes up to the first NUL; a field without a NUL is
// used whole (C peers using strncpy can fill it).
func getString(field []byte) string {
	for i, c := range field {
		if c == 0 {
			return string(field[:i])
		}
	}
	return string(field)
}

func marshalHello(h *Hello, b *[MsgSize]byte) error {
	if h.MaxLog2RingSize > MaxLog2RingSize {
		return &MessageError{MsgHello, "max_log2_ring_size", fmt.Sprintf("%d out of range (at most %d)", h.MaxLog2RingSize, MaxLog2RingSize)}
	}
	putType(b, MsgHello)
	putString(b[offHelloName:offHelloName+NameSize], h.Name)
	le.PutUint16(b[offHelloMinVersion:], h.MinVersion)
	le.PutUint16(b[offHelloMaxVersion:], h.MaxVersion)
	le.PutUint16(b[offHelloMaxRegion:], h.MaxRegion)
	le.PutUint16(b[offHelloMaxS2CRing:], h.MaxS2CRing)
	le.PutUint16(b[offHelloMaxC2SRing:], h.MaxC2SRing)
	b[offHelloMaxLog2] = h.MaxLog2RingSize
	return nil
}

func marshalInit(m *Init, b *[MsgSize]byte) error {
	if len(m.Secret) > SecretSize-1 {
		return &MessageError{MsgInit, "secret", fmt.Sprintf("is %d bytes, at most %d fit", len(m.Secret), SecretSize-1)}
	}
	if m.Mode > maxMode {
		return &MessageError{MsgInit, "mode", fmt.Sprintf("%d out of range %s", m.Mode, modeRangeString)}
	}
	putType(b, MsgInit)
	le.PutUint16(b[offInitVersion:], m.Version)
	le.PutUint32(b[offInitID:], m.ID)
	b[offInitMode] = byte(m.Mode)
	putString(b[offInitSecret:offInitSecret+SecretSize], m.Secret)
	putString(b[offInitName:offInitName+NameSize], m.Name)
	return nil
}

func marshalAddRegion(m *AddRegion, b *[MsgSize]byte) {
	putType(b, MsgAddRegion)
	le.PutUint16(b[offRegionIndex:], m.Index)
	le.PutUint64(b[offRegionSize:], m.Size)
}

func marshalAddRing(m *AddRing, b *[MsgSize]byte) error {
	if err := checkAddRing(m); err != nil {
		return err
	}
	putType(b, MsgAddRing)
	le.PutUint16(b[offRingFlags:], m.Flags)
	le.PutUint16(b[offRingIndex:], m.Index)
	le.PutUint16(b[offRingRegion:], m.Region)
	le.PutUint32(b[offRingOffset:], m.Offset)
	b[offRingLog2] = m.Log2RingSize
	le.PutUint16(b[offRingPrivateHdr:], m.PrivateHdrSize)
	return nil
}

func checkAddRing(m *AddRing) error {
	if m.Flags&^RingFlagC2S != 0 {
		return &MessageError{MsgAddRing, "flags", fmt.Sprintf("0x%04x has unknown bits (only bit 0, C2S, is defined)", m.Flags)}
	}
	if m.Log2RingSize == 0 || m.Log2RingSize > MaxLog2RingSize {
		return &MessageError{MsgAddRing, "log2_ring_size", fmt.Sprintf("%d out of range (1..%d)", m.Log2RingSize, MaxLog2RingSize)}
	}
	return nil
}

func marshalDisconnect(m *Disconnect, b *[MsgSize]byte) {
	putType(b, MsgDisconnect)
	le.PutUint32(b[offDisconnectCode:], m.Code)
	putString(b[offDisconnectReason:offDisconnectReason+ReasonSize], m.Reason)
}

// Unmarshal decodes one message. It returns the value types (Hello, not
// *Hello). It rejects a size other than MsgSize (ErrMessageSize), types
// outside ACK..DISCONNECT (ErrUnknownType), and, as *MessageError, field
// values that cannot be meant: INIT mode > 2, a log2 ring size > 14 (or 0 in
// ADD_RING), ADD_RING flags other than bit 0. Policy — versions, indices,
// private header size — is left to the handshakes, which know what to answer.
func Unmarshal(b []byte) (Message, error) {
	if len(b) != MsgSize {
		return nil, fmt.Errorf("memif: %w: %d bytes, want %d", ErrMessageSize, len(b), MsgSize)
	}
	t := MsgType(le.Uint16(b[offType:]))
	switch t {
	case MsgAck:
		return Ack{}, nil
	case MsgHello:
		h := Hello{
			Name:            getString(b[offHelloName : offHelloName+NameSize]),
			MinVersion:      le.Uint16(b[offHelloMinVersion:]),
			MaxVersion:      le.Uint16(b[offHelloMaxVersion:]),
			MaxRegion:       le.Uint16(b[offHelloMaxRegion:]),
			MaxS2CRing:      le.Uint16(b[offHelloMaxS2CRing:]),
			MaxC2SRing:      le.Uint16(b[offHelloMaxC2SRing:]),
			MaxLog2RingSize: b[offHelloMaxLog2],
		}
		if h.MaxLog2RingSize > MaxLog2RingSize {
			return nil, &MessageError{MsgHello, "max_log2_ring_size", fmt.Sprintf("%d out of range (at most %d)", h.MaxLog2RingSize, MaxLog2RingSize)}
		}
		return h, nil
	case MsgInit:
		m := Init{
			Version: le.Uint16(b[offInitVersion:]),
			ID:      le.Uint32(b[offInitID:]),
			Mode:    Mode(b[offInitMode]),
			Secret:  getString(b[offInitSecret : offInitSecret+SecretSize]),
			Name:    getString(b[offInitName : offInitName+NameSize]),
		}
		if m.Mode > maxMode {
			return nil, &MessageError{MsgInit, "mode", fmt.Sprintf("%d out of range %s", m.Mode, modeRangeString)}
		}
		return m, nil
	case MsgAddRegion:
		return AddRegion{
			Index: le.Uint16(b[offRegionIndex:]),
			Size:  le.Uint64(b[offRegionSize:]),
		}, nil
	case MsgAddRing:
		m := AddRing{
			Flags:          le.Uint16(b[offRingFlags:]),
			Index:          le.Uint16(b[offRingIndex:]),
			Region:         le.Uint16(b[offRingRegion:]),
			Offset:         le.Uint32(b[offRingOffset:]),
			Log2RingSize:   b[offRingLog2],
			PrivateHdrSize: le.Uint16(b[offRingPrivateHdr:]),
		}
		if err := checkAddRing(&m); err != nil {
			return nil, err
		}
		return m, nil
	case MsgConnect:
		return Connect{IfName: getString(b[offIfName : offIfName+NameSize])}, nil
	case MsgConnected:
		return Connected{IfName: getString(b[offIfName : offIfName+NameSize])}, nil
	case MsgDisconnect:
		return Disconnect{
			Code:   le.Uint32(b[offDisconnectCode:]),
			Reason: getString(b[offDisconnectReason : offDisconnectReason+ReasonSize]),
		}, nil
	}
	return nil, fmt.Errorf("memif: %w %d (0x%04x)", ErrUnknownType, uint16(t), uint16(t))
}
