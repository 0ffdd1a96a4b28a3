package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// parseResult parses the RESULT line of out into its keys, and checks
// there is exactly one.
func parseResult(t *testing.T, out string) map[string]string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "RESULT ") {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 1, "output: %q", out)
	kv := map[string]string{}
	for _, f := range strings.Fields(strings.TrimPrefix(lines[0], "RESULT ")) {
		k, v, ok := strings.Cut(f, "=")
		require.True(t, ok, "field %q", f)
		kv[k] = v
	}
	for _, k := range []string{"role", "mode", "len", "secs", "tx_pkts", "rx_pkts", "tx_mpps", "rx_mpps"} {
		require.Contains(t, kv, k)
	}
	return kv
}

func num(t *testing.T, kv map[string]string, k string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(kv[k], 64)
	require.NoError(t, err, "%s=%q", k, kv[k])
	return f
}

// both runs a server and a client memifperf with the given flags at once
// and returns their standard outputs.
func both(t *testing.T, server, client []string) (srvOut, cliOut string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "perf.sock")
	common := []string{"-socket", sock, "-wait", "10s"}
	var wg sync.WaitGroup
	var so, ce bytes.Buffer
	var se bytes.Buffer
	var sc int
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc = run(context.Background(), append(append([]string{"-role", "server"}, common...), server...), &so, &se)
	}()
	// The client retries until the server listens.
	var co bytes.Buffer
	cc := -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		co.Reset()
		ce.Reset()
		cc = run(context.Background(), append(append([]string{"-role", "client"}, common...), client...), &co, &ce)
		if cc == 0 || !strings.Contains(ce.String(), "connect") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	require.Equal(t, 0, cc, "client: %s", ce.String())
	require.Equal(t, 0, sc, "server: %s", se.String())
	return so.String(), co.String()
}

// Every frame the generator reports sent, the sink reports received.
func TestGenToSinkCountsMatch(t *testing.T) {
	for _, tc := range []struct {
		size   int
		rxMode string
	}{{64, "poll"}, {1500, "adaptive"}, {9000, "interrupt"}} {
		t.Run(strconv.Itoa(tc.size)+"/"+tc.rxMode, func(t *testing.T) {
			srv, cli := both(t,
				[]string{"-mode", "sink", "-duration", "20s", "-rx-mode", tc.rxMode},
				[]string{"-mode", "gen", "-duration", "200ms", "-size", strconv.Itoa(tc.size), "-batch", "16"})
			s, c := parseResult(t, srv), parseResult(t, cli)
			require.Equal(t, "server", s["role"])
			require.Equal(t, "sink", s["mode"])
			require.Equal(t, "client", c["role"])
			require.Equal(t, "gen", c["mode"])
			require.Equal(t, strconv.Itoa(tc.size), c["len"])
			require.Greater(t, num(t, c, "tx_pkts"), 0.0)
			require.Equal(t, c["tx_pkts"], s["rx_pkts"], "every frame sent is received")
			require.Equal(t, "0", s["tx_pkts"])
			require.Equal(t, "0", c["rx_pkts"])
			require.Greater(t, num(t, c, "tx_mpps"), 0.0)
			require.Less(t, num(t, c, "secs"), 5.0)
		})
	}
}

// With 2 queues each way, a goroutine per queue: the totals match and
// both queues carry frames.
func TestGenToSinkQueues(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "perf.sock")
	var so, se, co, ce bytes.Buffer
	var sc, cc int
	var wg sync.WaitGroup
	wg.Go(func() {
		sc = run(context.Background(), []string{"-role", "server", "-socket", sock, "-wait", "10s", "-queues", "2", "-mode", "sink", "-duration", "20s"}, &so, &se)
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		co.Reset()
		ce.Reset()
		cc = run(context.Background(), []string{"-role", "client", "-socket", sock, "-wait", "10s", "-queues", "2", "-mode", "gen", "-duration", "200ms", "-batch", "16"}, &co, &ce)
		if cc == 0 || !strings.Contains(ce.String(), "connect") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	require.Equal(t, 0, cc, "client: %s", ce.String())
	require.Equal(t, 0, sc, "server: %s", se.String())
	s, c := parseResult(t, so.String()), parseResult(t, co.String())
	require.Greater(t, num(t, c, "tx_pkts"), 0.0)
	require.Equal(t, c["tx_pkts"], s["rx_pkts"], "every frame sent is received")
	perQueue := func(out string) [2][2]uint64 {
		var q [2][2]uint64
		for i := range 2 {
			prefix := "memifperf: queue " + strconv.Itoa(i) + ": "
			for _, l := range strings.Split(out, "\n") {
				if rest, ok := strings.CutPrefix(l, prefix); ok {
					_, err := fmt.Sscanf(rest, "tx_pkts=%d rx_pkts=%d", &q[i][0], &q[i][1])
					require.NoError(t, err, l)
				}
			}
		}
		return q
	}
	sq, cq := perQueue(se.String()), perQueue(ce.String())
	for i := range 2 {
		require.Greater(t, cq[i][0], uint64(0), "queue %d sent nothing: %s", i, ce.String())
		require.Equal(t, cq[i][0], sq[i][1], "queue %d: sent and received", i)
	}
	require.Equal(t, num(t, c, "tx_pkts"), float64(cq[0][0]+cq[1][0]))
}

// The single-frame read calls count the same as batches.
func TestSinkReadCalls(t *testing.T) {
	for _, read := range []string{"zerocopy", "copy", "into"} {
		t.Run(read, func(t *testing.T) {
			srv, cli := both(t,
				[]string{"-mode", "sink", "-duration", "20s", "-read", read},
				[]string{"-mode", "gen", "-duration", "100ms", "-size", "3000"})
			s, c := parseResult(t, srv), parseResult(t, cli)
			require.Greater(t, num(t, c, "tx_pkts"), 0.0)
			require.Equal(t, c["tx_pkts"], s["rx_pkts"])
		})
	}
}

// An echoing server sends back every frame; the generator (as a server
// this time) and the echo (a client) agree on the counts.
func TestEcho(t *testing.T) {
	srv, cli := both(t,
		[]string{"-mode", "gen", "-duration", "200ms", "-size", "100"},
		[]string{"-mode", "echo", "-duration", "20s"})
	g, e := parseResult(t, srv), parseResult(t, cli)
	require.Equal(t, "echo", e["mode"])
	require.Greater(t, num(t, g, "tx_pkts"), 0.0)
	require.Equal(t, g["tx_pkts"], e["rx_pkts"])
	// The echo sends back what it receives until the generator leaves;
	// the generator counts what came back while it was sending.
	require.LessOrEqual(t, num(t, e, "tx_pkts"), num(t, e, "rx_pkts"))
	require.Greater(t, num(t, g, "rx_pkts"), 0.0)
	require.LessOrEqual(t, num(t, g, "rx_pkts"), num(t, e, "tx_pkts"))
}

func TestPingPong(t *testing.T) {
	for _, mode := range []string{"poll", "interrupt"} {
		t.Run(mode, func(t *testing.T) {
			srv, cli := both(t,
				[]string{"-mode", "echo", "-duration", "20s", "-rx-mode", mode},
				[]string{"-mode", "gen", "-pingpong", "-duration", "300ms", "-rx-mode", mode})
			c, e := parseResult(t, cli), parseResult(t, srv)
			require.Equal(t, "pingpong", c["mode"])
			// Two busy-polling peers in one process under -race on a
			// 2-CPU machine: a ping can be stalled past memifperf's
			// 200 ms loss timeout, so only the first pings are sure.
			tx, rx := num(t, c, "tx_pkts"), num(t, c, "rx_pkts")
			require.GreaterOrEqual(t, rx, 2.0)
			require.LessOrEqual(t, tx-rx, 1.0, "every ping but the last came back")
			require.Equal(t, c["tx_pkts"], e["rx_pkts"], "the echo saw every ping")
			avg, p99 := num(t, c, "rtt_us_avg"), num(t, c, "rtt_us_p99")
			require.Greater(t, avg, 0.0)
			require.Greater(t, p99, 0.0)
			require.Less(t, avg, 300e3)
		})
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-queues", "0"}, "-queues 0: want 1 to 255"},
		{[]string{"-queues", "256"}, "-queues 256: want 1 to 255"},
		{[]string{"-queues", "2", "-pingpong", "-mode", "gen"}, "-pingpong times one frame at a time: it runs on 1 queue (-queues 1)"},
		{[]string{"-mode", "flood"}, `-mode "flood"`},
		{[]string{"-rx-mode", "irq"}, `-rx-mode "irq"`},
		{[]string{"-size", "41"}, "-size 41"},
		{[]string{"-batch", "0"}, "-batch 0"},
		{[]string{"-mode", "sink", "-pingpong"}, "-pingpong needs -mode gen"},
		{[]string{"-role", "boss"}, "-role"},
		{[]string{"-read", "mmap"}, `-read "mmap"`},
		{[]string{"-mode", "echo", "-read", "copy"}, "-read copy is for -mode sink"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-rx-queues", "2", "-tx-queues", "1"}, "-rx-queues 2, -tx-queues 1: memifperf runs queue pairs, give both the same count"},
		{[]string{"-rx-queues", "300", "-tx-queues", "300"}, "-queues 300: want 1 to 255"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		require.Equal(t, 2, code, "%v", tc.args)
		require.Contains(t, errb.String(), tc.want)
		require.Empty(t, out.String())
	}
}

func TestResultLine(t *testing.T) {
	r := &result{role: "client", mode: "sink", size: 64, secs: 3, rx: 123000}
	require.Equal(t, "RESULT role=client mode=sink len=64 secs=3.000 tx_pkts=0 rx_pkts=123000 tx_mpps=0.000 rx_mpps=0.041", r.line())
	r = &result{role: "client", mode: "pingpong", size: 64, secs: 1, tx: 4, rx: 4}
	r.rttAvg, r.rttP50, r.rttP99 = stats([]time.Duration{1000, 2000, 3000, 10000})
	require.Equal(t, "RESULT role=client mode=pingpong len=64 secs=1.000 tx_pkts=4 rx_pkts=4 tx_mpps=0.000 rx_mpps=0.000 rtt_us_avg=4.00 rtt_us_p99=10.00 rtt_us_p50=2.00", r.line())
}
