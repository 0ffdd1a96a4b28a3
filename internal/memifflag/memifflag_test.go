package memifflag

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/memifpcap/memifpcap/memifpcap"
)

func parse(t *testing.T, args ...string) (*memifpcap.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	require.NoError(t, fs.Parse(args))
	return f.Config()
}

func TestDefaults(t *testing.T) {
	c, err := parse(t)
	require.NoError(t, err)
	require.Equal(t, &memifpcap.Config{
		Role: memifpcap.RoleClient, Socket: "/run/vpp/memif.sock", Mode: memifpcap.ModeEthernet,
		RingSize: 1024, BufferSize: 2048, RxQueues: 1, TxQueues: 1, RxMode: memifpcap.RxModeAdaptive,
		ConnectWait: 10 * time.Second,
	}, c)
}

func TestAllFlags(t *testing.T) {
	c, err := parse(t, "-socket", "@x", "-id", "7", "-role", "server", "-secret", "s",
		"-mode", "ip", "-ring-size", "256", "-buffer-size", "9216",
		"-rx-queues", "4", "-tx-queues", "255", "-rx-mode", "interrupt", "-wait", "1.5",
		"-netns", "blue", "-socket-owner", "nobody:65533", "-socket-mode", "0660")
	require.NoError(t, err)
	require.Equal(t, &memifpcap.Config{
		Role: memifpcap.RoleServer, Socket: "@x", ID: 7, Secret: "s", Mode: memifpcap.ModeIP,
		RingSize: 256, BufferSize: 9216, RxQueues: 4, TxQueues: 255, RxMode: memifpcap.RxModeInterrupt,
		ConnectWait: 1500 * time.Millisecond, Netns: "blue",
		SocketOwner: 65534, SocketGroup: 65533, SocketPerm: 0o660,
	}, c)
	c, err = parse(t, "-socket-owner", "0:root")
	require.NoError(t, err)
	require.Equal(t, [2]int{0, 0}, [2]int{c.SocketOwner, c.SocketGroup})
}

func TestBadFlags(t *testing.T) {
	for args, want := range map[string][]string{
		"-role: memif: unknown role \"boss\" (want client or server)":                  {"-role", "boss"},
		"-mode: memif: unknown mode \"tap\" (want ethernet, ip or punt-inject)":        {"-mode", "tap"},
		"-id 4294967296: memif interface ids are 32-bit":                               {"-id", "4294967296"},
		"-ring-size 1000: want a power of two from 2 to 16384":                         {"-ring-size", "1000"},
		"-ring-size 32768: want a power of two from 2 to 16384":                        {"-ring-size", "32768"},
		"-buffer-size 0: want 1 to 65535 bytes":                                        {"-buffer-size", "0"},
		"-rx-queues 0: want 1 to 255":                                                  {"-rx-queues", "0"},
		"-rx-queues 256: want 1 to 255":                                                {"-rx-queues", "256"},
		"-tx-queues -1: want 1 to 255":                                                 {"-tx-queues", "-1"},
		"-tx-queues 256: want 1 to 255":                                                {"-tx-queues", "256"},
		"-rx-mode: memif: unknown rx mode \"busy\" (want adaptive, poll or interrupt)": {"-rx-mode", "busy"},
		"-secret: 24 bytes; memif peers use at most 23":                                {"-secret", "012345678901234567890123"},
		"-socket-mode 0999: want octal permission bits, 1 to 0777 (such as 0660)":      {"-socket-mode", "0999"},
		"-socket-mode 1777: want octal permission bits, 1 to 0777 (such as 0660)":      {"-socket-mode", "1777"},
		"-socket-owner memifpcap-nobody: no user \"memifpcap-nobody\"":                 {"-socket-owner", "memifpcap-nobody"},
		"-socket-owner 0:memifpcap-none: no group \"memifpcap-none\"":                  {"-socket-owner", "0:memifpcap-none"},
		"-socket-owner :0: empty user":                                                 {"-socket-owner", ":0"},
	} {
		_, err := parse(t, want...)
		require.EqualError(t, err, args)
	}
}

func TestRxModes(t *testing.T) {
	for arg, want := range map[string]memifpcap.RxMode{
		"adaptive": memifpcap.RxModeAdaptive, "poll": memifpcap.RxModePoll,
		"polling": memifpcap.RxModePoll, "interrupt": memifpcap.RxModeInterrupt,
	} {
		c, err := parse(t, "-rx-mode", arg)
		require.NoError(t, err)
		require.Equal(t, want, c.RxMode, arg)
	}
}
