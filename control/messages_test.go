package control

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// diffBytes reports the first differing offsets of two messages, so a layout
// failure names the field that moved.
func diffBytes(t *testing.T, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("length %d, want %d", len(got), len(want))
	}
	var bad []string
	for i := range got {
		if got[i] != want[i] {
			bad = append(bad, hex.EncodeToString([]byte{byte(i)})+":"+hex.EncodeToString(got[i:i+1])+"!="+hex.EncodeToString(want[i:i+1]))
		}
	}
	if len(bad) > 0 {
		t.Errorf("bytes differ at (offset:got!=want) %s\ngot:\n%swant:\n%s", strings.Join(bad, " "), hex.Dump(got), hex.Dump(want))
	}
}

// The expected layouts are written by hand from the message structs of
// libmemif's memif.h (memif_msg_hello_t, memif_msg_init_t, …), byte by byte, never through the encoder under test.
func TestMarshalLayouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  Message
		want func(b *[MsgSize]byte)
	}{
		{"ACK", Ack{}, func(b *[MsgSize]byte) {
			b[0] = 0x01
		}},
		{"HELLO", Hello{Name: "DPDK 22.11.0", MinVersion: 0x0200, MaxVersion: 0x0201, MaxRegion: 255, MaxS2CRing: 0x01fe, MaxC2SRing: 0x02fd, MaxLog2RingSize: 14}, func(b *[MsgSize]byte) {
			b[0] = 0x02
			copy(b[2:], "DPDK 22.11.0")
			b[34], b[35] = 0x00, 0x02 // min_version
			b[36], b[37] = 0x01, 0x02 // max_version
			b[38], b[39] = 0xff, 0x00 // max_region
			b[40], b[41] = 0xfe, 0x01 // max_m2s_ring = S2C
			b[42], b[43] = 0xfd, 0x02 // max_s2m_ring = C2S
			b[44] = 14
		}},
		{"INIT", Init{Version: 0x0200, ID: 0x01020304, Mode: ModeIP, Secret: "secret", Name: "app"}, func(b *[MsgSize]byte) {
			b[0] = 0x03
			b[2], b[3] = 0x00, 0x02
			b[4], b[5], b[6], b[7] = 0x04, 0x03, 0x02, 0x01
			b[8] = 1
			copy(b[9:], "secret")
			copy(b[33:], "app")
		}},
		{"INIT max secret", Init{Version: 0x0200, Mode: ModePuntInject, Secret: "0123456789abcdefghijklm", Name: "0123456789abcdefghijklmnopqrstu"}, func(b *[MsgSize]byte) {
			b[0] = 0x03
			b[2], b[3] = 0x00, 0x02
			b[8] = 2
			copy(b[9:], "0123456789abcdefghijklm") // 23 bytes, NUL at 32
			copy(b[33:], "0123456789abcdefghijklmnopqrstu")
		}},
		{"ADD_REGION", AddRegion{Index: 0x0102, Size: 0x0102030405060708}, func(b *[MsgSize]byte) {
			b[0] = 0x04
			b[2], b[3] = 0x02, 0x01
			copy(b[4:12], []byte{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01})
		}},
		{"ADD_RING", AddRing{Flags: RingFlagC2S, Index: 0x0203, Region: 0x0405, Offset: 0x06070809, Log2RingSize: 10, PrivateHdrSize: 0x0a0b}, func(b *[MsgSize]byte) {
			b[0] = 0x05
			b[2], b[3] = 0x01, 0x00
			b[4], b[5] = 0x03, 0x02
			b[6], b[7] = 0x05, 0x04
			b[8], b[9], b[10], b[11] = 0x09, 0x08, 0x07, 0x06
			b[12] = 10
			b[13], b[14] = 0x0b, 0x0a // unaligned private_hdr_size
		}},
		{"CONNECT", Connect{IfName: "net_memif0"}, func(b *[MsgSize]byte) {
			b[0] = 0x06
			copy(b[2:], "net_memif0")
		}},
		{"CONNECTED", Connected{IfName: "memif0/7"}, func(b *[MsgSize]byte) {
			b[0] = 0x07
			copy(b[2:], "memif0/7")
		}},
		{"DISCONNECT", Disconnect{Code: 0x01020304, Reason: "Incorrect secret"}, func(b *[MsgSize]byte) {
			b[0] = 0x08
			b[2], b[3], b[4], b[5] = 0x04, 0x03, 0x02, 0x01
			copy(b[6:], "Incorrect secret")
		}},
		{"CONNECT name truncated", Connect{IfName: strings.Repeat("x", 40)}, func(b *[MsgSize]byte) {
			b[0] = 0x06
			copy(b[2:33], strings.Repeat("x", 31)) // strlcpy: 31 bytes, NUL at 33
		}},
		{"HELLO name truncated", Hello{Name: strings.Repeat("n", 32)}, func(b *[MsgSize]byte) {
			b[0] = 0x02
			copy(b[2:33], strings.Repeat("n", 31))
		}},
		{"DISCONNECT reason truncated", Disconnect{Reason: strings.Repeat("r", 200)}, func(b *[MsgSize]byte) {
			b[0] = 0x08
			copy(b[6:101], strings.Repeat("r", 95)) // NUL at 101
		}},
		{"pointer", &AddRegion{Index: 1, Size: 2}, func(b *[MsgSize]byte) {
			b[0] = 0x04
			b[2] = 1
			b[4] = 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want [MsgSize]byte
			tt.want(&want)
			var got [MsgSize]byte
			for i := range got {
				got[i] = 0xaa // Marshal must zero what it does not write
			}
			if err := Marshal(tt.msg, &got); err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			diffBytes(t, got[:], want[:])
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	msgs := []Message{
		Ack{},
		Hello{Name: "VPP 24.10", MinVersion: 0x0200, MaxVersion: 0x0200, MaxRegion: 256, MaxS2CRing: 256, MaxC2SRing: 256, MaxLog2RingSize: 14},
		Hello{},
		Init{Version: 0x0200, ID: 0xffffffff, Mode: ModeEthernet, Secret: "", Name: "memifpcap"},
		Init{Version: 0x0100, ID: 3, Mode: ModePuntInject, Secret: strings.Repeat("s", 23), Name: strings.Repeat("a", 31)},
		AddRegion{Index: 255, Size: 1 << 40},
		AddRing{Flags: 0, Index: 254, Region: 1, Offset: 0xfffffff0, Log2RingSize: 1, PrivateHdrSize: 0},
		AddRing{Flags: RingFlagC2S, Index: 0, Region: 0, Offset: 0, Log2RingSize: 14, PrivateHdrSize: 0xffff},
		Connect{IfName: "net_memif0"},
		Connected{IfName: ""},
		Disconnect{Code: 0, Reason: "ID not found"},
	}
	for _, m := range msgs {
		var b [MsgSize]byte
		if err := Marshal(m, &b); err != nil {
			t.Fatalf("Marshal(%#v): %v", m, err)
		}
		got, err := Unmarshal(b[:])
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%#v)): %v", m, err)
		}
		if got != m {
			t.Errorf("round trip:\n got %#v\nwant %#v", got, m)
		}
		if got.Type() != m.Type() {
			t.Errorf("Type() %v, want %v", got.Type(), m.Type())
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	t.Parallel()
	var b [MsgSize]byte
	err := Marshal(Init{Version: Version, Secret: strings.Repeat("s", 24)}, &b)
	var me *MessageError
	if !errors.As(err, &me) || me.Type != MsgInit || me.Field != "secret" {
		t.Fatalf("24-byte secret: got %v, want a *MessageError for INIT secret", err)
	}
	if got, want := err.Error(), "memif: INIT: secret is 24 bytes, at most 23 fit"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if b != ([MsgSize]byte{}) {
		t.Errorf("failed Marshal left bytes in the buffer:\n%s", hex.Dump(b[:]))
	}

	for _, tt := range []struct {
		m    Message
		want string
	}{
		{Init{Mode: 3}, "memif: INIT: mode 3 out of range (0 ethernet, 1 ip, 2 punt-inject)"},
		{Hello{MaxLog2RingSize: 15}, "memif: HELLO: max_log2_ring_size 15 out of range (at most 14)"},
		{AddRing{Log2RingSize: 0}, "memif: ADD_RING: log2_ring_size 0 out of range (1..14)"},
		{AddRing{Log2RingSize: 15}, "memif: ADD_RING: log2_ring_size 15 out of range (1..14)"},
		{AddRing{Flags: 2, Log2RingSize: 10}, "memif: ADD_RING: flags 0x0002 has unknown bits (only bit 0, C2S, is defined)"},
		{nil, "memif: marshal: nil message"},
		{(*Hello)(nil), "memif: marshal: nil message"},
	} {
		err := Marshal(tt.m, &b)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Marshal(%#v) = %v, want %q", tt.m, err, tt.want)
		}
	}
	if err := Marshal(Ack{}, nil); err == nil {
		t.Error("Marshal into a nil buffer succeeded")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	t.Parallel()
	msg := func(f func(b []byte)) []byte {
		b := make([]byte, MsgSize)
		f(b)
		return b
	}
	tests := []struct {
		name     string
		b        []byte
		sentinel error
		field    string
		want     string
	}{
		{"empty", nil, ErrMessageSize, "", "memif: invalid message size: 0 bytes, want 128"},
		{"short", make([]byte, 127), ErrMessageSize, "", "memif: invalid message size: 127 bytes, want 128"},
		{"long", make([]byte, 129), ErrMessageSize, "", "memif: invalid message size: 129 bytes, want 128"},
		{"NONE", make([]byte, 128), ErrUnknownType, "", "memif: unknown message type 0 (0x0000)"},
		{"type 9", msg(func(b []byte) { b[0] = 9 }), ErrUnknownType, "", "memif: unknown message type 9 (0x0009)"},
		{"type 0x0102", msg(func(b []byte) { b[0], b[1] = 2, 1 }), ErrUnknownType, "", "memif: unknown message type 258 (0x0102)"},
		{"INIT mode 7", msg(func(b []byte) { b[0], b[8] = 3, 7 }), nil, "mode", "memif: INIT: mode 7 out of range (0 ethernet, 1 ip, 2 punt-inject)"},
		{"INIT mode 3", msg(func(b []byte) { b[0], b[8] = 3, 3 }), nil, "mode", "memif: INIT: mode 3 out of range (0 ethernet, 1 ip, 2 punt-inject)"},
		{"HELLO log2 15", msg(func(b []byte) { b[0], b[44] = 2, 15 }), nil, "max_log2_ring_size", "memif: HELLO: max_log2_ring_size 15 out of range (at most 14)"},
		{"ADD_RING log2 0", msg(func(b []byte) { b[0], b[2] = 5, 1 }), nil, "log2_ring_size", "memif: ADD_RING: log2_ring_size 0 out of range (1..14)"},
		{"ADD_RING log2 15", msg(func(b []byte) { b[0], b[12] = 5, 15 }), nil, "log2_ring_size", "memif: ADD_RING: log2_ring_size 15 out of range (1..14)"},
		{"ADD_RING flags 2", msg(func(b []byte) { b[0], b[2], b[12] = 5, 2, 10 }), nil, "flags", "memif: ADD_RING: flags 0x0002 has unknown bits (only bit 0, C2S, is defined)"},
		{"ADD_RING flags 0x8001", msg(func(b []byte) { b[0], b[2], b[3], b[12] = 5, 1, 0x80, 10 }), nil, "flags", "memif: ADD_RING: flags 0x8001 has unknown bits (only bit 0, C2S, is defined)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unmarshal(tt.b)
			if err == nil {
				t.Fatalf("Unmarshal succeeded with %#v", m)
			}
			if m != nil {
				t.Errorf("Unmarshal returned %#v with its error", m)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			if tt.field != "" {
				var me *MessageError
				if !errors.As(err, &me) || me.Field != tt.field {
					t.Errorf("error %#v is not a *MessageError for field %q", err, tt.field)
				}
			}
		})
	}
}

// Unmarshal leaves policy to the handshakes: versions, indices and private
// header sizes decode as sent.
func TestUnmarshalLeavesPolicy(t *testing.T) {
	t.Parallel()
	b := make([]byte, MsgSize)
	b[0] = 0x02
	b[34], b[35], b[36], b[37] = 0x00, 0x03, 0x00, 0x01 // min 0x0300 > max 0x0100
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Hello{MinVersion: 0x0300, MaxVersion: 0x0100}); m != want {
		t.Errorf("got %#v, want %#v", m, want)
	}

	b = make([]byte, MsgSize)
	b[0] = 0x05
	b[4], b[5] = 0xff, 0xff // index 65535
	b[6], b[7] = 0x00, 0x01 // region 256
	b[12] = 1
	b[13], b[14] = 0x40, 0x00 // private_hdr_size 64
	m, err = Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (AddRing{Index: 0xffff, Region: 256, Log2RingSize: 1, PrivateHdrSize: 64}); m != want {
		t.Errorf("got %#v, want %#v", m, want)
	}
}

func TestUnmarshalStrings(t *testing.T) {
	t.Parallel()
	// A name filling all 32 bytes with no NUL is used whole.
	b := make([]byte, MsgSize)
	b[0] = 0x02
	name := "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	copy(b[2:34], name)
	b[34] = 0x00 // min_version low byte: must not leak into the name
	b[35] = 0x02
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(Hello).Name; got != name {
		t.Errorf("HELLO name %q, want %q", got, name)
	}

	// CONNECTED if_name, 32 bytes, no NUL.
	b = make([]byte, MsgSize)
	b[0] = 0x07
	copy(b[2:34], name)
	b[34] = 'Z' // outside the field
	m, err = Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(Connected).IfName; got != name {
		t.Errorf("CONNECTED if_name %q, want %q", got, name)
	}

	// INIT: 24-byte secret with no NUL, then a name; text after a NUL is
	// ignored.
	b = make([]byte, MsgSize)
	b[0] = 0x03
	copy(b[9:33], "abcdefghijklmnopqrstuvwx")
	copy(b[33:], "app\x00garbage")
	m, err = Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Init{Secret: "abcdefghijklmnopqrstuvwx", Name: "app"}); m != want {
		t.Errorf("got %#v, want %#v", m, want)
	}

	// DISCONNECT reason of 96 bytes, no NUL.
	b = make([]byte, MsgSize)
	b[0] = 0x08
	reason := strings.Repeat("q", 96)
	copy(b[6:102], reason)
	b[102] = 'X'
	m, err = Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(Disconnect).Reason; got != reason {
		t.Errorf("reason %q, want %q", got, reason)
	}
}

func TestStrings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		got, want string
	}{
		{MsgNone.String(), "type 0x0000"},
		{MsgAck.String(), "ACK"},
		{MsgHello.String(), "HELLO"},
		{MsgInit.String(), "INIT"},
		{MsgAddRegion.String(), "ADD_REGION"},
		{MsgAddRing.String(), "ADD_RING"},
		{MsgConnect.String(), "CONNECT"},
		{MsgConnected.String(), "CONNECTED"},
		{MsgDisconnect.String(), "DISCONNECT"},
		{MsgType(9).String(), "type 0x0009"},
		{MsgType(0xabcd).String(), "type 0xabcd"},
		{ModeEthernet.String(), "ethernet"},
		{ModeIP.String(), "ip"},
		{ModePuntInject.String(), "punt-inject"},
		{Mode(3).String(), "mode 3"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, m := range []Message{
		Ack{},
		Hello{Name: "DPDK 22.11.0", MinVersion: Version, MaxVersion: Version, MaxRegion: 255, MaxS2CRing: 255, MaxC2SRing: 255, MaxLog2RingSize: 14},
		Init{Version: Version, ID: 7, Mode: ModeIP, Secret: "secret", Name: "app"},
		AddRegion{Index: 1, Size: 4096},
		AddRing{Flags: RingFlagC2S, Index: 1, Region: 0, Offset: 384, Log2RingSize: 10},
		Connect{IfName: "net_memif0"},
		Connected{IfName: "memif0/0"},
		Disconnect{Reason: "Incorrect secret"},
	} {
		var b [MsgSize]byte
		if err := Marshal(m, &b); err != nil {
			f.Fatal(err)
		}
		f.Add(b[:])
	}
	f.Add([]byte{})
	f.Add(make([]byte, 127))
	f.Add(append([]byte{9, 0}, make([]byte, 126)...))

	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			if m != nil {
				t.Fatalf("message %#v returned with error %v", m, err)
			}
			return
		}
		if len(b) != MsgSize {
			t.Fatalf("accepted a %d-byte message", len(b))
		}
		if m.Type() != MsgType(le.Uint16(b)) {
			t.Fatalf("Type() %v, wire type %d", m.Type(), le.Uint16(b))
		}
		// Round trip holds unless a string filled its whole field (no
		// NUL): Marshal then truncates it, or refuses it for a secret.
		full := false
		switch v := m.(type) {
		case Hello:
			full = len(v.Name) >= NameSize
		case Init:
			full = len(v.Name) >= NameSize || len(v.Secret) >= SecretSize
		case Connect:
			full = len(v.IfName) >= NameSize
		case Connected:
			full = len(v.IfName) >= NameSize
		case Disconnect:
			full = len(v.Reason) >= ReasonSize
		}
		var out [MsgSize]byte
		err = Marshal(m, &out)
		if full {
			return
		}
		if err != nil {
			t.Fatalf("Marshal(%#v) of a decoded message: %v", m, err)
		}
		m2, err := Unmarshal(out[:])
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%#v)): %v", m, err)
		}
		if m2 != m {
			t.Fatalf("round trip: got %#v, want %#v", m2, m)
		}
	})
}
