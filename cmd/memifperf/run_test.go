package main

import (
	"bytes"
	"context"
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
		{[]string{"-queues", "2"}, "-queues 2: only 1 queue is supported"},
		{[]string{"-mode", "flood"}, `-mode "flood"`},
		{[]string{"-rx-mode", "irq"}, `-rx-mode "irq"`},
		{[]string{"-size", "41"}, "-size 41"},
		{[]string{"-batch", "0"}, "-batch 0"},
		{[]string{"-mode", "sink", "-pingpong"}, "-pingpong needs -mode gen"},
		{[]string{"-role", "boss"}, "-role"},
		{[]string{"-read", "mmap"}, `-read "mmap"`},
		{[]string{"-mode", "echo", "-read", "copy"}, "-read copy is for -mode sink"},
		{[]string{"extra"}, `unexpected argument "extra"`},
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
