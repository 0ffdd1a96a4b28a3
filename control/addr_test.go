package control

import (
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return "/" + strings.Repeat("p", n-1) }
	tests := []struct {
		in      string
		want    Addr
		str     string // String(); "" means in
		wantErr string
	}{
		{in: "/run/vpp/memif.sock", want: Addr{Name: "/run/vpp/memif.sock"}},
		{in: "relative.sock", want: Addr{Name: "relative.sock"}},
		{in: "@/run/memif.sock", want: Addr{Name: "/run/memif.sock", Abstract: true}},
		{in: "@memif", want: Addr{Name: "memif", Abstract: true}},
		{in: "abstract:/run/memif.sock", want: Addr{Name: "/run/memif.sock", Abstract: true}, str: "@/run/memif.sock"},
		{in: "abstract:x,y", want: Addr{Name: "x,y", Abstract: true}, str: "@x,y"},
		{in: long(107), want: Addr{Name: long(107)}},
		{in: "@" + strings.Repeat("a", 106), want: Addr{Name: strings.Repeat("a", 106), Abstract: true}},

		{in: "", wantErr: "memif: empty socket address"},
		{in: "@", wantErr: "memif: empty abstract socket name"},
		{in: "abstract:", wantErr: "memif: empty abstract socket name"},
		{in: long(108), wantErr: "memif: socket path \"" + long(108) + "\" is 108 bytes, at most 107 fit"},
		{in: "@" + strings.Repeat("a", 107), wantErr: "memif: abstract socket name \"" + strings.Repeat("a", 107) + "\" is 107 bytes, at most 106 fit"},
		{in: "abstract:memif,netns_name=blue", want: Addr{Name: "memif", Abstract: true, Netns: "/var/run/netns/blue"}, str: "@memif,netns_name=/var/run/netns/blue"},
		{in: "abstract:vpp/memif-eth0,netns_name=/var/run/netns/x", want: Addr{Name: "vpp/memif-eth0", Abstract: true, Netns: "/var/run/netns/x"}, str: "@vpp/memif-eth0,netns_name=/var/run/netns/x"},
		{in: "abstract:memif,netns_pid=42", want: Addr{Name: "memif", Abstract: true, Netns: "/proc/42/ns/net"}, str: "@memif,netns_name=/proc/42/ns/net"},
		{in: "@a,b,netns_name=pid:7", want: Addr{Name: "a,b", Abstract: true, Netns: "/proc/7/ns/net"}, str: "@a,b,netns_name=/proc/7/ns/net"},
		{in: "/run/vpp/memif.sock,netns_name=/proc/1/ns/net", want: Addr{Name: "/run/vpp/memif.sock", Netns: "/proc/1/ns/net"}},
		{in: "abstract:memif,netns_name=", wantErr: "memif: socket address \"abstract:memif,netns_name=\": empty network namespace"},
		{in: "abstract:memif,netns_pid=x", wantErr: "memif: socket address \"abstract:memif,netns_pid=x\": network namespace \"pid:x\": not a process id"},
		{in: "abstract:memif,netns_pid=0", wantErr: "memif: socket address \"abstract:memif,netns_pid=0\": network namespace \"pid:0\": not a process id"},
		{in: "abstract:memif,netns_name=a/b", wantErr: "memif: socket address \"abstract:memif,netns_name=a/b\": network namespace \"a/b\": a name has no '/' (give a path from the root)"},
		{in: ",netns_name=x", wantErr: "memif: empty socket address"},
		{in: "/tmp/a\x00b", wantErr: "memif: socket address \"/tmp/a\\x00b\" contains a NUL byte"},
	}
	for _, tt := range tests {
		got, err := ParseAddr(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseAddr(%q) = %#v, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			if got != (Addr{}) {
				t.Errorf("ParseAddr(%q) returned %#v with its error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAddr(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			continue
		}
		str := tt.str
		if str == "" {
			str = tt.in
		}
		if got.String() != str {
			t.Errorf("ParseAddr(%q).String() = %q, want %q", tt.in, got.String(), str)
		}
		back, err := ParseAddr(got.String())
		if err != nil || back != got {
			t.Errorf("ParseAddr(%q) = %#v, %v; want %#v", got.String(), back, err, got)
		}
	}
}
