package pcapfilter

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestProgramLength compares program lengths with libpcap's optimised ones
// over the corpus. PCAPFILTER_LENGTHS=file writes the whole table there.
func TestProgramLength(t *testing.T) {
	needTcpdump(t)
	exprs := readCorpus(t)
	ref := tcpdumpAll("EN10MB", exprs)
	var b strings.Builder
	fmt.Fprintf(&b, "| expression | libpcap | pcapfilter |\n|---|---:|---:|\n")
	var sumL, sumP, n, shorter, equal, longer, worst int
	for i, e := range exprs {
		if ref[i].err != "" {
			continue
		}
		got, err := CompileRaw(e, LinkTypeEthernet, diffSnaplen)
		if err != nil {
			continue
		}
		l, p := len(ref[i].prog), len(got)
		fmt.Fprintf(&b, "| `%s` | %d | %d |\n", strings.ReplaceAll(e, "|", "\\|"), l, p)
		sumL, sumP, n = sumL+l, sumP+p, n+1
		switch {
		case p < l:
			shorter++
		case p == l:
			equal++
		default:
			longer++
			worst = max(worst, p-l)
		}
		// The bound kept: libpcap's length plus a half, plus 4 (the worst
		// are "host A and B" chains, where libpcap shares more tests).
		if p > l+l/2+4 {
			t.Errorf("%q: %d instructions, libpcap %d\n%s", e, p, l, Dump(got, DumpText))
		}
	}
	// In all, within 5% of libpcap's.
	if sumP > sumL+sumL/20 {
		t.Errorf("%d instructions in all, libpcap %d", sumP, sumL)
	}
	fmt.Fprintf(&b, "\n%d programs: libpcap %d instructions in all, pcapfilter %d; pcapfilter shorter %d, equal %d, longer %d (by %d at most)\n",
		n, sumL, sumP, shorter, equal, longer, worst)
	if f := os.Getenv("PCAPFILTER_LENGTHS"); f != "" {
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d programs: libpcap %d instructions, pcapfilter %d; shorter %d, equal %d, longer %d (by %d at most)",
		n, sumL, sumP, shorter, equal, longer, worst)
}
