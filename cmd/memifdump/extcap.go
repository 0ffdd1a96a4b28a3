package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/memifpcap/memifpcap/internal/memifflag"
	layersglue "github.com/memifpcap/memifpcap/layers_glue"
	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/pcapfilter"
)

// memifdump is also a Wireshark extcap program: copied or linked into
// Wireshark's extcap folder, it makes memif links capture interfaces that
// Wireshark's and tshark's own dialogs open (doc/extcap.adoc in Wireshark:
// Wireshark calls the program with --extcap-interfaces, then
// --extcap-dlts and --extcap-config for an interface, then --capture with
// a FIFO to write a capture file into, until it stops the program with
// SIGTERM).

// extcapIface is the one interface memifdump offers; what it connects to
// is in its options (the config).
const extcapIface = "memif"

// isExtcap reports whether memifdump was called by Wireshark as an extcap
// program: tcpdump's own flags never start with --extcap or --capture.
func isExtcap(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "--extcap-") || a == "--capture" {
			return true
		}
	}
	return false
}

// extcapArg is one option of the interface, as the config offers it and
// as memifdump's own flag takes it.
type extcapArg struct {
	flag, display, typ, def, tooltip string
	values                           []string // a selector's, the first the default
	extra                            string   // further {key=value} pairs
}

var extcapArgs = []extcapArg{
	{flag: "socket", display: "Socket", typ: "string", def: memifpcap.DefaultSocket, extra: "{required=true}",
		tooltip: "memif control socket: a path, or @name (abstract:name) for an abstract socket; DPDK's default is @/run/memif.sock"},
	{flag: "id", display: "Interface id", typ: "unsigned", def: "0", tooltip: "memif interface id"},
	{flag: "role", display: "Role", typ: "selector", values: []string{"client", "server"},
		tooltip: "client: connect to the server (VPP, DPDK) on the socket; server: listen on it for a client"},
	{flag: "secret", display: "Secret", typ: "password", tooltip: "memif shared secret, if the peer has one"},
	{flag: "mode", display: "Mode", typ: "selector", values: []string{"ethernet", "ip", "punt-inject"},
		tooltip: "interface mode: what the frames are"},
	{flag: "rx-queues", display: "Receive queues", typ: "integer", def: "1", extra: "{range=1,255}",
		tooltip: "queues the peer sends on (VPP's rx-queues)"},
	{flag: "netns", display: "Network namespace", typ: "string",
		tooltip: "the socket's network namespace: a name (ip netns), a path (/proc/PID/ns/net) or pid:PID"},
	{flag: "wait", display: "Wait for the peer", typ: "string", def: memifflag.DefaultWait.String(),
		tooltip: "how long to wait for the peer: a duration such as 10s, 0 for one try, or forever"},
}

// extcapOptions are what Wireshark passes.
type extcapOptions struct {
	interfaces, dlts, config, capture bool
	iface, fifo, filter               string
	values                            map[string]*string
}

func parseExtcap(args []string, stderr io.Writer) (*extcapOptions, error) {
	fs := flag.NewFlagSet(name+" (extcap)", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &extcapOptions{values: map[string]*string{}}
	fs.BoolVar(&o.interfaces, "extcap-interfaces", false, "list the extcap interfaces")
	fs.Func("extcap-version", "Wireshark's version (ignored)", func(string) error { return nil })
	fs.StringVar(&o.iface, "extcap-interface", "", "the extcap interface")
	fs.BoolVar(&o.dlts, "extcap-dlts", false, "list the interface's link types")
	fs.BoolVar(&o.config, "extcap-config", false, "list the interface's options")
	fs.BoolVar(&o.capture, "capture", false, "capture into --fifo")
	fs.StringVar(&o.fifo, "fifo", "", "the FIFO to write the capture into")
	fs.StringVar(&o.filter, "extcap-capture-filter", "", "the capture filter")
	for _, a := range extcapArgs {
		o.values[a.flag] = fs.String(a.flag, "", a.tooltip)
	}
	// --extcap-version comes alone when a user asks, with =X.Y from
	// Wireshark; the flag package wants a value either way.
	args = append([]string(nil), args...)
	for i, a := range args {
		if a == "--extcap-version" {
			args[i] = a + "="
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("extcap: unexpected argument %q", fs.Arg(0))
	}
	if o.iface != "" && o.iface != extcapIface {
		return nil, fmt.Errorf("extcap: no interface %q (memifdump offers %q)", o.iface, extcapIface)
	}
	return o, nil
}

// runExtcap answers one of Wireshark's calls.
func runExtcap(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseExtcap(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	switch {
	case o.interfaces:
		fmt.Fprintf(stdout, "extcap {version=%s}{help=https://github.com/memifpcap/memifpcap}\n", version())
		fmt.Fprintf(stdout, "interface {value=%s}{display=memif: shared memory packet interface (DPDK, VPP, libmemif)}\n", extcapIface)
		return 0
	case o.iface == "" && !o.capture:
		// --extcap-version alone: who we are.
		fmt.Fprintf(stdout, "%s %s\n", name, version())
		return 0
	case o.dlts:
		fmt.Fprintf(stdout, "dlt {number=1}{name=EN10MB}{display=Ethernet (ip mode captures RAW, punt-inject USER0)}\n")
		return 0
	case o.config:
		writeExtcapConfig(stdout)
		return 0
	case o.capture:
		// Wireshark shows whatever an extcap writes to its standard
		// error as an error: the start line and the counts are said
		// only when the capture fails.
		var said bytes.Buffer
		code := run(ctx, o.dumpArgs(), stdout, &said)
		if code != 0 {
			stderr.Write(said.Bytes())
		}
		return code
	case o.filter != "":
		// Wireshark checks a capture filter as the user types it: say
		// nothing if it compiles, else why not.
		if _, err := pcapfilter.Compile(o.filter, pcapfilter.LinkType(layersglue.LinkTypeForMode(o.mode())), 262144); err != nil {
			fmt.Fprintln(stdout, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "%s: extcap: nothing asked (want --extcap-interfaces, --extcap-dlts, --extcap-config or --capture)\n", name)
	return 2
}

func writeExtcapConfig(w io.Writer) {
	for i, a := range extcapArgs {
		fmt.Fprintf(w, "arg {number=%d}{call=--%s}{display=%s}{type=%s}{tooltip=%s}", i, a.flag, a.display, a.typ, a.tooltip)
		if a.def != "" {
			fmt.Fprintf(w, "{default=%s}", a.def)
		}
		fmt.Fprintf(w, "%s\n", a.extra)
		for j, v := range a.values {
			def := ""
			if j == 0 {
				def = "{default=true}"
			}
			fmt.Fprintf(w, "value {arg=%d}{value=%s}{display=%s}%s\n", i, v, v, def)
		}
	}
}

// mode is the mode option, ethernet when it is not given or not one.
func (o *extcapOptions) mode() memifpcap.Mode {
	m, err := memifpcap.ParseMode(*o.values["mode"])
	if err != nil {
		return memifpcap.ModeEthernet
	}
	return m
}

// dumpArgs is the memifdump command line a capture runs: the options
// given, a pcap flushed after every frame into the FIFO (Wireshark shows
// frames as they come), and the filter as tcpdump's trailing expression.
func (o *extcapOptions) dumpArgs() []string {
	var args []string
	for _, a := range extcapArgs {
		if v := *o.values[a.flag]; v != "" {
			args = append(args, "-"+a.flag, v)
		}
	}
	args = append(args, "-w", o.fifo, "-U")
	if f := strings.TrimSpace(o.filter); f != "" {
		args = append(args, f)
	}
	return args
}

// version is the module's version as built, "devel" from a checkout.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
