package pcapfilter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

const diffSnaplen = 262144

// readCorpus reads testdata/exprs.txt: one expression a line, # comments.
func readCorpus(t testing.TB) []string { return readExprs(t, "testdata/exprs.txt") }

func readExprs(t testing.TB, name string) []string {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := strings.TrimSpace(s.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// libpcapProgram is tcpdump's program for one expression, or its refusal.
type libpcapProgram struct {
	prog []bpf.RawInstruction
	ddd  string // tcpdump's -ddd text
	err  string
}

func tcpdumpCompile(dlt, expr string) libpcapProgram {
	cmd := exec.Command("tcpdump", "-y", dlt, "-s", strconv.Itoa(diffSnaplen), "-ddd", "--", expr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return libpcapProgram{err: strings.TrimSpace(stderr.String()) + " (" + err.Error() + ")"}
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	n, err := strconv.Atoi(lines[0])
	if err != nil || n != len(lines)-1 {
		return libpcapProgram{err: "unreadable tcpdump output: " + stdout.String()}
	}
	prog := make([]bpf.RawInstruction, n)
	for i, l := range lines[1:] {
		var op, jt, jf, k uint64
		if _, err := fmt.Sscan(l, &op, &jt, &jf, &k); err != nil {
			return libpcapProgram{err: "unreadable tcpdump line " + l}
		}
		prog[i] = bpf.RawInstruction{Op: uint16(op), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)}
	}
	return libpcapProgram{prog: prog, ddd: stdout.String()}
}

var tcpdumpCache struct {
	sync.Mutex
	m map[string][]libpcapProgram
}

// tcpdumpAll compiles every expression for one DLT, a few tcpdumps at a
// time, once per test binary run.
func tcpdumpAll(dlt string, exprs []string) []libpcapProgram {
	key := dlt + "\x00" + strings.Join(exprs, "\x00")
	tcpdumpCache.Lock()
	defer tcpdumpCache.Unlock()
	if p, ok := tcpdumpCache.m[key]; ok {
		return p
	}
	if tcpdumpCache.m == nil {
		tcpdumpCache.m = map[string][]libpcapProgram{}
	}
	p := tcpdumpRun(dlt, exprs)
	tcpdumpCache.m[key] = p
	return p
}

func tcpdumpRun(dlt string, exprs []string) []libpcapProgram {
	out := make([]libpcapProgram, len(exprs))
	sem := make(chan struct{}, 2*runtime.NumCPU())
	var wg sync.WaitGroup
	for i, e := range exprs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			out[i] = tcpdumpCompile(dlt, e)
			<-sem
		}()
	}
	wg.Wait()
	return out
}

func needTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		if os.Getenv("MEMIFPCAP_REQUIRE_TESTPMD") == "1" {
			t.Fatal("tcpdump not found and MEMIFPCAP_REQUIRE_TESTPMD=1: the differential test must run")
		}
		t.Skip("tcpdump not found: the differential test against libpcap needs it")
	}
}

// captureFrames reads every frame of ../testdata/pcaps/*.pcap*.
func captureFrames(t testing.TB) [][]byte {
	files, _ := filepath.Glob("../testdata/pcaps/*.pcap*")
	if len(files) == 0 {
		t.Fatal("no captures in ../testdata/pcaps")
	}
	var frames [][]byte
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		var next func() ([]byte, error)
		if strings.HasSuffix(name, ".pcapng") {
			r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
			if err != nil {
				t.Fatal(name, err)
			}
			next = func() ([]byte, error) { d, _, err := r.ReadPacketData(); return d, err }
		} else {
			r, err := pcapgo.NewReader(f)
			if err != nil {
				t.Fatal(name, err)
			}
			next = func() ([]byte, error) { d, _, err := r.ReadPacketData(); return d, err }
		}
		for {
			d, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(name, err)
			}
			frames = append(frames, d)
		}
		f.Close()
	}
	return frames
}

// ethFrames is the captures plus generated frames, and truncations of a
// sample of all of them.
func ethFrames(t testing.TB) [][]byte {
	return append(captureFrames(t), generatedFrames()...)
}

// truncatedFrames cuts a sample of the frames at the offsets filters read.
func truncatedFrames(frames [][]byte) [][]byte {
	var cut [][]byte
	for i, f := range frames {
		if i%7 != 0 && i < len(frames)-len(generatedFrames()) {
			continue
		}
		for _, n := range []int{0, 1, 13, 14, 15, 20, 23, 27, 33, 34, 37, 38, 41, 42, 53, 54, 55, 57, 58, 60} {
			if n < len(f) {
				cut = append(cut, f[:n])
			}
		}
	}
	return cut
}

// rawFrames is the IP packets of the Ethernet frames, without their header.
func rawFrames(eth [][]byte) [][]byte {
	var out [][]byte
	for _, f := range eth {
		if len(f) >= 14 {
			et := binary.BigEndian.Uint16(f[12:])
			if et == 0x800 || et == 0x86dd || et == 0x806 {
				out = append(out, f[14:])
			}
		}
	}
	return out
}

func verdict(vm *bpf.VM, frame []byte) string {
	n, err := vm.Run(frame)
	if err != nil {
		return "error: " + err.Error()
	}
	return strconv.Itoa(n)
}

func TestDifferentialLibpcap(t *testing.T) {
	needTcpdump(t)
	exprs := readCorpus(t)
	if len(exprs) < 300 {
		t.Errorf("corpus has %d expressions, want at least 300", len(exprs))
	}
	// Refused on purpose although libpcap compiles them (names, protochain).
	refused := map[string]bool{}
	for _, e := range readExprs(t, "testdata/refused.txt") {
		refused[e] = true
		if _, err := CompileRaw(e, LinkTypeEthernet, diffSnaplen); err == nil {
			t.Errorf("%q is in testdata/refused.txt but compiles", e)
		}
	}
	eth := ethFrames(t)
	links := []struct {
		dlt    string
		link   LinkType
		frames [][]byte
	}{
		{"EN10MB", LinkTypeEthernet, eth},
		{"RAW", LinkTypeRaw, rawFrames(append(eth, truncatedFrames(eth)...))},
	}
	links[0].frames = append(links[0].frames, truncatedFrames(eth)...)
	for _, l := range links {
		ref := tcpdumpAll(l.dlt, exprs)
		t.Run(l.dlt, func(t *testing.T) {
			compared := 0
			for i, e := range exprs {
				got, err := CompileRaw(e, l.link, diffSnaplen)
				if refused[e] {
					continue
				}
				if ref[i].err != "" {
					if err == nil {
						t.Errorf("%q: libpcap refuses it (%s); pcapfilter compiled it", e, ref[i].err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%q: libpcap compiles it; pcapfilter: %v", e, err)
					continue
				}
				want, err := bpf.NewVM(disassemble(runnable(ref[i].prog)))
				if err != nil {
					t.Errorf("%q: libpcap's program does not load: %v", e, err)
					continue
				}
				have, err := bpf.NewVM(disassemble(got))
				if err != nil {
					t.Errorf("%q: pcapfilter's program does not load: %v\n%s", e, err, Dump(got, DumpText))
					continue
				}
				bad := 0
				for _, f := range l.frames {
					w, g := verdict(want, f), verdict(have, f)
					if w != g {
						if bad == 0 {
							t.Errorf("%q: frame of %d bytes % x: libpcap %s, pcapfilter %s\nlibpcap:\n%spcapfilter:\n%s",
								e, len(f), f[:min(len(f), 64)], w, g, Dump(ref[i].prog, DumpText), Dump(got, DumpText))
						}
						bad++
					}
				}
				if bad > 1 {
					t.Errorf("%q: %d frames differ in all", e, bad)
				}
				compared++
			}
			t.Logf("%s: %d expressions compiled by both, %d frames each", l.dlt, compared, len(l.frames))
		})
	}
}

func disassemble(raw []bpf.RawInstruction) []bpf.Instruction {
	out := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		out[i] = r.Disassemble()
	}
	return out
}

// runnable rewrites libpcap's "neg" (unary minus) as "mul #0xffffffff",
// the same value, because golang.org/x/net/bpf's VM does not run BPF_NEG.
func runnable(prog []bpf.RawInstruction) []bpf.RawInstruction {
	out := append([]bpf.RawInstruction(nil), prog...)
	for i, r := range out {
		if r.Op == clsALU|aluNEG {
			out[i] = bpf.RawInstruction{Op: clsALU | aluMUL | srcK, K: 0xffffffff}
		}
	}
	return out
}
