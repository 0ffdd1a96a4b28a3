package testpmd

import (
	"errors"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	s, err := Config{
		Role: "client", Socket: "@memif-abs", ID: 4294967295, Secret: "s3cret",
		BSize: 9216, RSize: 12, Queues: 2, Forward: "txonly", TxPktLen: 9000, MbufSize: 9344,
		Cores: "0@1,1@1", ExtraEAL: []string{"--vdev=net_pcap0,tx_pcap=/tmp/out.pcap"}, ExtraApp: []string{"--burst=16"},
	}.settings()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.args("pfx"), " ")
	want := "--lcores=0@1,1@1 --no-huge -m 256 --no-pci --file-prefix=pfx --log-level=pmd.net.memif:debug " +
		"--vdev=net_memif0,role=client,id=4294967295,socket=memif-abs,socket-abstract=yes,secret=s3cret,bsize=9216,rsize=12 " +
		"--vdev=net_pcap0,tx_pcap=/tmp/out.pcap -- -i --forward-mode=txonly --port-topology=loop " +
		"--total-num-mbufs=16384 --rxq=2 --txq=2 --mbuf-size=9344 --txpkts=9000 --burst=16"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	if s.sockShow != "@memif-abs" || !s.abstract {
		t.Errorf("socket shown as %q, abstract %v; want @memif-abs, true", s.sockShow, s.abstract)
	}
}

func TestArgsDefaults(t *testing.T) {
	s, err := Config{Role: "server", Socket: "/run/m.sock", Cores: "0@0,1@0"}.settings()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.args("p"), " ")
	want := "--lcores=0@0,1@0 --no-huge -m 256 --no-pci --file-prefix=p --log-level=pmd.net.memif:debug " +
		"--vdev=net_memif0,role=server,id=0,socket=/run/m.sock,socket-abstract=no -- -i --forward-mode=rxonly " +
		"--port-topology=loop --total-num-mbufs=16384 --rxq=1 --txq=1"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
}

func TestArgsZeroCopy(t *testing.T) {
	s, err := Config{Role: "client", Socket: "/run/m.sock", Cores: "0@0,1@0", ZeroCopy: true}.settings()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.args("p"), " ")
	want := "--lcores=0@0,1@0 --no-huge -m 256 --no-pci --file-prefix=p --log-level=pmd.net.memif:debug " +
		"--vdev=net_memif0,role=client,id=0,socket=/run/m.sock,socket-abstract=no,zero-copy=yes --single-file-segments " +
		"-- -i --forward-mode=rxonly --port-topology=loop --total-num-mbufs=16384 --rxq=1 --txq=1"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	_, err = Config{Role: "server", Socket: "/run/m.sock", ZeroCopy: true}.settings()
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Config.ZeroCopy") {
		t.Errorf("ZeroCopy server: got %v, want ErrInvalidConfig naming Config.ZeroCopy", err)
	}
}

func TestSettingsRelativeSocket(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Config{Role: "server", Socket: "m.sock"}.settings()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.sockArg, "/") || !strings.HasSuffix(s.sockArg, "/m.sock") || s.sockShow != s.sockArg {
		t.Errorf("relative socket became %q (shown %q), want an absolute path", s.sockArg, s.sockShow)
	}
}

func TestSettingsInvalid(t *testing.T) {
	ok := Config{Role: "server", Socket: "/tmp/m.sock"}
	for _, c := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Role", func(c *Config) { c.Role = "" }},
		{"Role", func(c *Config) { c.Role = "master" }},
		{"Socket", func(c *Config) { c.Socket = "" }},
		{"Socket", func(c *Config) { c.Socket = "@" }},
		{"Socket", func(c *Config) { c.Socket = "/tmp/a,b.sock" }},
		{"Socket", func(c *Config) { c.Socket = "/tmp/a=b.sock" }},
		{"Socket", func(c *Config) { c.Socket = "/tmp/a b.sock" }},
		{"Socket", func(c *Config) { c.Socket = "/" + strings.Repeat("x", 107) }},
		{"Socket", func(c *Config) { c.Socket = "@" + strings.Repeat("x", 108) }},
		{"Secret", func(c *Config) { c.Secret = strings.Repeat("s", 24) }},
		{"Secret", func(c *Config) { c.Secret = "a,b" }},
		{"BSize", func(c *Config) { c.BSize = -1 }},
		{"BSize", func(c *Config) { c.BSize = 65536 }},
		{"RSize", func(c *Config) { c.RSize = 15 }},
		{"Queues", func(c *Config) { c.Queues = 256 }},
		{"Forward", func(c *Config) { c.Forward = "bogus" }},
		{"MbufSize", func(c *Config) { c.MbufSize = 128 }},
		{"MbufSize", func(c *Config) { c.MbufSize = 65536 }},
		{"TxPktLen", func(c *Config) { c.TxPktLen = 41 }},
		{"TxPktLen", func(c *Config) { c.TxPktLen = 16385 }},
		{"Cores", func(c *Config) { c.Cores = "0@0 1@0" }},
		{"ExtraEAL", func(c *Config) { c.ExtraEAL = []string{"--"} }},
	} {
		cfg := ok
		c.edit(&cfg)
		_, err := cfg.settings()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Config."+c.field+":") {
			t.Errorf("%+v: error %v, want ErrInvalidConfig naming Config.%s", cfg, err, c.field)
		}
	}
	// the limits themselves are valid
	for _, edit := range []func(*Config){
		func(c *Config) { c.Socket = "/" + strings.Repeat("x", 106) },
		func(c *Config) { c.Socket = "@" + strings.Repeat("x", 107) },
		func(c *Config) { c.Secret = strings.Repeat("s", 23) },
		func(c *Config) { c.BSize, c.RSize, c.Queues = 65535, 14, 255 },
		func(c *Config) { c.MbufSize, c.TxPktLen = 129, 42 },
		func(c *Config) { c.MbufSize, c.TxPktLen = 65535, 16384 },
		func(c *Config) { c.Role, c.Forward = "client", "5tswap" },
	} {
		cfg := ok
		edit(&cfg)
		if _, err := cfg.settings(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func TestTxpkts(t *testing.T) {
	for _, c := range []struct {
		n, mbuf int
		want    string
	}{
		{64, 0, "64"},
		{2048, 0, "2048"},
		{2049, 0, "2048,1"},
		{9000, 0, "2048,2048,2048,2048,808"},
		{9000, 9128, "9000"},
		{9000, 9127, "8999,1"},
	} {
		if got := txpkts(c.n, c.mbuf); got != c.want {
			t.Errorf("txpkts(%d, %d) = %q, want %q", c.n, c.mbuf, got, c.want)
		}
	}
}

func TestDefaultCores(t *testing.T) {
	for _, c := range []struct {
		role string
		cpus []int
		want string
	}{
		{"server", []int{0, 1}, "0@0,1@0"},
		{"client", []int{0, 1}, "0@1,1@1"},
		{"client", []int{0}, "0@0,1@0"},
		{"client", nil, "0@0,1@0"},
		{"server", []int{2, 5}, "0@2,1@2"},
		{"client", []int{2, 5, 7}, "0@5,1@5"},
	} {
		if got := defaultCores(c.role, c.cpus); got != c.want {
			t.Errorf("defaultCores(%s, %v) = %q, want %q", c.role, c.cpus, got, c.want)
		}
	}
}

func TestListeningIn(t *testing.T) {
	const procNetUnixSample = `Num       RefCount Protocol Flags    Type St Inode Path
ffff8a0c40a1c000: 00000002 00000000 00010000 0005 01 20817 /tmp/memif.sock
ffff8a0c40a1c400: 00000002 00000000 00010000 0005 01 20818 @/tmp/abstract.sock
ffff8a0c40a1c800: 00000003 00000000 00000000 0005 03 20819 /tmp/connected.sock
ffff8a0c40a1cc00: 00000002 00000000 00000000 0002 01 20820
ffff8a0c40a1d000: 00000002 00000000 00010000 0001 01 20821 /tmp/with space.sock
bad line
`
	for _, c := range []struct {
		name string
		want bool
	}{
		{"/tmp/memif.sock", true},
		{"@/tmp/abstract.sock", true},
		{"/tmp/abstract.sock", false},
		{"/tmp/connected.sock", false},
		{"/tmp/with", false},
		{"/tmp/with space.sock", true},
		{"/tmp/missing.sock", false},
	} {
		got, err := listeningIn(strings.NewReader(procNetUnixSample), c.name)
		if err != nil || got != c.want {
			t.Errorf("listeningIn(%q) = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}
