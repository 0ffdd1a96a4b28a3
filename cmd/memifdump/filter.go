package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/memifpcap/memifpcap/capfile"
	"github.com/memifpcap/memifpcap/pcapfilter"
)

// memifdump filters as tcpdump does: the arguments after the flags are a
// filter expression (pcap-filter(7)), compiled in pure Go by pcapfilter
// for the link type of the capture (the memif mode, or the file of -r);
// -bpf FILE takes a program compiled elsewhere instead; -d, -dd and -ddd
// print the compiled program and exit.

// dumpFlag is -d, -dd or -ddd: each adds its number of d's to the count,
// so that -d -d is -dd, as tcpdump's getopt counts them.
type dumpFlag struct {
	n   *int
	add int
}

func (d dumpFlag) String() string {
	if d.n == nil {
		return "0"
	}
	return strconv.Itoa(*d.n)
}
func (d dumpFlag) Set(string) error { *d.n += d.add; return nil }
func (d dumpFlag) IsBoolFlag() bool { return true }

// registerFilterFlags defines -d, -dd and -ddd on fs.
func registerFilterFlags(fs *flag.FlagSet, n *int) {
	fs.Var(dumpFlag{n, 1}, "d", "print the filter expression's program in readable form (tcpdump -d) and exit")
	fs.Var(dumpFlag{n, 2}, "dd", "print the program as a C array (tcpdump -dd) and exit")
	fs.Var(dumpFlag{n, 3}, "ddd", "print the program in decimal, the -bpf FILE format (tcpdump -ddd), and exit")
}

// filterName is how messages name the filter: the -bpf file, or the
// expression.
func (o *options) filterName() string {
	if o.bpfFile != "" {
		return "-bpf " + o.bpfFile
	}
	return "filter " + strconv.Quote(o.expr)
}

// compileExpr compiles the filter expression, if any, for link type lt
// into o.prog.
func (o *options) compileExpr(lt pcapfilter.LinkType) error {
	if o.expr == "" {
		return nil
	}
	prog, err := pcapfilter.CompileRaw(o.expr, lt, o.snapLen)
	if err != nil {
		return fmt.Errorf("%s: %w", o.filterName(), err)
	}
	o.prog = prog
	return nil
}

// printProgram is -d, -dd and -ddd: the program of the expression (all
// frames accepted without one) for the link type of -r's file, or of the
// memif mode, printed as tcpdump prints it.
func printProgram(o *options, lt pcapfilter.LinkType, stdout io.Writer) error {
	if o.read != "" {
		r, err := openCapture(o.read)
		if err != nil {
			return err
		}
		defer r.Close()
		flt, _ := r.LinkType()
		lt = pcapfilter.LinkType(flt)
	}
	prog, err := pcapfilter.CompileRaw(o.expr, lt, o.snapLen)
	if err != nil {
		return fmt.Errorf("%s: %w", o.filterName(), err)
	}
	_, err = io.WriteString(stdout, pcapfilter.Dump(prog, pcapfilter.DumpFormat(min(o.dumpProg, 3))))
	return err
}

// openCapture opens -r's file, "-" being standard input.
func openCapture(name string) (*capfile.Reader, error) {
	if name == "-" {
		return capfile.NewReader(stdin, "-", -1, nil)
	}
	return capfile.Open(name, nil)
}
