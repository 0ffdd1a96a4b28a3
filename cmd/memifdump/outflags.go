package main

import (
	"flag"
	"strconv"
	"strings"
)

// outputFlags are tcpdump's printing flags, which its users type without
// thinking. A letter given more than once counts (-vv, -XX, -tttt); Go's
// flag package knows neither repeated nor combined short flags, so
// expandShortFlags rewrites "-nnvX" into "-n -n -v -X" before parsing.
type outputFlags struct {
	n, e, q, v, x, X, A, t, number countFlag
	line                           bool // -l
	list                           bool // -D, --list-interfaces
	user                           string
}

// countFlag is a boolean flag that counts how often it was given.
type countFlag int

func (c *countFlag) String() string { return strconv.Itoa(int(*c)) }

func (c *countFlag) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	if on {
		*c++
	} else {
		*c = 0
	}
	return nil
}

func (c *countFlag) IsBoolFlag() bool { return true }

func registerOutputFlags(fs *flag.FlagSet) *outputFlags {
	f := &outputFlags{}
	var absolute bool
	fs.Var(&f.n, "n", "accepted for tcpdump's -n and -nn: memifdump never resolves addresses or ports")
	fs.BoolVar(&absolute, "S", false, "accepted for tcpdump's -S: TCP sequence numbers are always absolute")
	fs.Var(&f.e, "e", "print the link-level header (Ethernet addresses, ethertype, length, VLAN tags) as tcpdump -e")
	fs.Var(&f.q, "q", "quieter lines, as tcpdump -q: TCP and UDP as \"tcp N\" and \"UDP, length N\"")
	fs.Var(&f.v, "v", "print the IP header's fields (tos, ttl, id, offset, flags, proto, length) as tcpdump -v")
	fs.Var(&f.x, "x", "dump each packet in hex after its line, from the network header, as tcpdump -x; -xx from the link-level header")
	fs.Var(&f.X, "X", "dump each packet in hex and ASCII, as tcpdump -X; -XX from the link-level header")
	fs.Var(&f.A, "A", "print each packet (less its link-level header) in ASCII, as tcpdump -A")
	fs.Var(&f.t, "t", "time stamps as tcpdump: -t none, -tt seconds since 1970, -ttt since the previous packet, -tttt with the date, -ttttt since the first packet")
	fs.Var(&f.number, "#", "print each packet's number first, as tcpdump -#")
	fs.Var(&f.number, "number", "the same as -#")
	fs.BoolVar(&f.line, "l", false, "line-buffered output: each line is written as it is printed (as -U)")
	fs.BoolVar(&f.list, "D", false, "list the memif sockets this process can see (listening unix sockets of type SOCK_SEQPACKET) and exit")
	fs.BoolVar(&f.list, "list-interfaces", false, "the same as -D")
	fs.StringVar(&f.user, "Z", "", "after opening the memif socket and the output file, drop privileges to `user` (and its groups)")
	fs.StringVar(&f.user, "relinquish-privileges", "", "the same as -Z `user`")
	return f
}

// textFormat checks the counts and returns what they ask of each line.
func (f *outputFlags) textFormat(nano bool) (textFormat, error) {
	if f.t > tsSinceFirst {
		return textFormat{}, usagef("-%s: at most five t's (-ttttt: time since the first packet)", strings.Repeat("t", int(f.t)))
	}
	return textFormat{
		nano:     nano,
		stamp:    int(f.t),
		number:   f.number > 0,
		link:     f.e > 0,
		quiet:    f.q > 0,
		verbose:  int(f.v),
		hex:      int(f.x),
		hexASCII: int(f.X),
		ascii:    int(f.A),
	}, nil
}

// expandShortFlags splits clusters of one-letter boolean flags, as
// tcpdump's getopt does: "-nnvX" becomes "-n", "-n", "-v", "-X". An
// argument that names a flag itself (-nano, -bpf) is kept, and so is the
// value of a flag that takes one; expansion stops where flag parsing
// stops, at "--" or the first argument that is not a flag. What is not a
// cluster of known letters is left for the flag package to refuse.
func expandShortFlags(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return append(out, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if f := fs.Lookup(name); f != nil {
			out = append(out, a)
			if !hasValue && !isBoolFlag(f) && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		if hasValue || strings.HasPrefix(a, "--") || !allBoolLetters(fs, name) {
			out = append(out, a)
			continue
		}
		for _, c := range name {
			out = append(out, "-"+string(c))
		}
	}
	return out
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func allBoolLetters(fs *flag.FlagSet, name string) bool {
	for _, c := range name {
		f := fs.Lookup(string(c))
		if f == nil || !isBoolFlag(f) {
			return false
		}
	}
	return true
}

// apply puts the printing flags into o, after the flags of run.go.
func (f *outputFlags) apply(o *options) error {
	var err error
	if o.text, err = f.textFormat(o.nano); err != nil {
		return err
	}
	o.list = f.list
	o.flushEach = o.flushEach || f.line
	if f.user != "" {
		if o.drop, err = lookupCredential(f.user); err != nil {
			return usagef("-Z %s: %v", f.user, err)
		}
	}
	return nil
}
