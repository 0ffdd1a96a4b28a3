package control

import "testing"

func TestDescribe(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		m    Message
		want string
	}{
		{Hello{Name: "VPP 26.10", MinVersion: 0x200, MaxVersion: 0x201, MaxRegion: 255, MaxC2SRing: 4, MaxS2CRing: 7, MaxLog2RingSize: 14},
			`HELLO name "VPP 26.10" versions 2.0-2.1 max region 255, max rings c2s 4 s2c 7, max ring size 16384`},
		{Init{Version: 0x200, ID: 42, Mode: ModeIP, Name: "testpmd"}, `INIT version 2.0 id 42 mode ip name "testpmd", no secret`},
		{Init{Version: 0x200, Mode: ModePuntInject, Secret: "hidden"}, `INIT version 2.0 id 0 mode punt-inject name "", a secret`},
		{Ack{}, "ACK"},
		{AddRegion{Index: 1, Size: 4 << 20}, "ADD_REGION 1 size 4194304"},
		{AddRing{Flags: RingFlagC2S, Index: 2, Region: 1, Offset: 128, Log2RingSize: 10}, "ADD_RING c2s 2 region 1 offset 128 size 1024"},
		{AddRing{Index: 0, Log2RingSize: 1}, "ADD_RING s2c 0 region 0 offset 0 size 2"},
		{Connect{IfName: "memif0/0"}, `CONNECT interface "memif0/0"`},
		{Connected{IfName: "net_memif"}, `CONNECTED interface "net_memif"`},
		{Disconnect{Reason: "Incorrect secret"}, `DISCONNECT "Incorrect secret"`},
	} {
		if got := Describe(c.m); got != c.want {
			t.Errorf("Describe(%#v) = %s, want %s", c.m, got, c.want)
		}
	}
}
