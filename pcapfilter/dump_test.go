package pcapfilter

import (
	"os/exec"
	"strconv"
	"testing"
)

// TestDumpMatchesTcpdump prints libpcap's own programs (from tcpdump -ddd)
// with Dump and requires tcpdump's -d, -dd and -ddd text, byte for byte.
func TestDumpMatchesTcpdump(t *testing.T) {
	needTcpdump(t)
	exprs := readCorpus(t)
	ref := tcpdumpAll("EN10MB", exprs)
	type texts struct{ d, dd string }
	out := make([]texts, len(exprs))
	sem := make(chan struct{}, 8)
	done := make(chan struct{})
	for i, e := range exprs {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem; done <- struct{}{} }()
			if ref[i].err != "" {
				return
			}
			d, _ := exec.Command("tcpdump", "-y", "EN10MB", "-s", strconv.Itoa(diffSnaplen), "-d", "--", e).Output()
			dd, _ := exec.Command("tcpdump", "-y", "EN10MB", "-s", strconv.Itoa(diffSnaplen), "-dd", "--", e).Output()
			out[i] = texts{string(d), string(dd)}
		}()
	}
	for range exprs {
		<-done
	}
	n := 0
	for i, e := range exprs {
		if ref[i].err != "" {
			continue
		}
		if got := Dump(ref[i].prog, DumpText); got != out[i].d {
			t.Errorf("%q: -d:\n got: %q\nwant: %q", e, got, out[i].d)
		}
		if got := Dump(ref[i].prog, DumpDecimal); got != ref[i].ddd {
			t.Errorf("%q: -ddd:\n got: %q\nwant: %q", e, got, ref[i].ddd)
		}
		if got := Dump(ref[i].prog, DumpC); got != out[i].dd {
			t.Errorf("%q: -dd:\n got: %q\nwant: %q", e, got, out[i].dd)
		}
		n++
	}
	t.Logf("%d programs printed as tcpdump -d, -dd and -ddd print them", n)
}
