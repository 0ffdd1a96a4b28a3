//go:build linux

package testpmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeTestpmd stands in for dpdk-testpmd's interactive console, so the
// harness's process handling (commands, acknowledgements, crash, kill,
// escalation, setup errors) is tested deterministically and fast. Its
// output lines are copied from DPDK 22.11.11's testpmd.
const fakeTestpmd = `#!/bin/sh
mode=$FAKE_TESTPMD_MODE
echo "EAL: Detected CPU lcores: 2"
echo "args: $*"
case $mode in
die) echo "EAL: Selected IOVA mode 'VA'"; exit 3 ;;
setup-error)
	echo "memif_connect_client(): Failed to connect socket: /nonexistent."
	echo "Fail to start port 0: Operation not permitted" ;;
*) echo "memif_connect_client(): Memif socket: /x connected." ;;
esac
echo "Checking link statuses..."
echo "Done"
if [ "$mode" = reject ]; then
	printf 'testpmd> memif_msg_receive_disconnect(): Disconnect received: Incorrect secret\n'
	echo "memif_disconnect(): Disconnected, id: 0, role: client."
	echo "memif_disconnect(): Disconnected, id: 0, role: client."
fi
printf 'testpmd> '
fwd=0
n=0
while IFS= read -r cmd; do
	printf '%s\r\n' "$cmd"
	case $cmd in
	start)
		if [ $fwd = 1 ]; then echo "Packet forwarding already started"; else
			fwd=1
			echo "rxonly packet forwarding - ports=1 - cores=1 - streams=1 - NUMA support enabled, MP allocation mode: native"
			[ "$mode" = link ] && echo "memif_connect(): Connected."
		fi ;;
	stop)
		if [ $fwd = 0 ]; then echo "Packet forwarding not started"; else
			fwd=0
			echo "Telling cores to stop..."
			printf '\n  ---------------------- Forward statistics for port 0  ----------------------\n'
			echo "  RX-packets: 1000           RX-dropped: 0             RX-total: 1000"
			echo "  TX-packets: 900            TX-dropped: 77            TX-total: 977"
			echo "  ----------------------------------------------------------------------------"
			printf '\n  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++\n'
			echo "  RX-packets: 5              RX-dropped: 5             RX-total: 5"
			echo "  TX-packets: 5              TX-dropped: 5             TX-total: 5"
			echo "  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++"
			echo "Done."
			[ "$mode" = link ] && echo "memif_disconnect(): Disconnected, id: 0, role: server."
		fi ;;
	"show port stats 0")
		n=$((n + 1))
		printf '\n  \033[2J\033[1;1H######################## NIC statistics for port 0  ########################\n'
		echo "  RX-packets: $((n * 1000))       RX-missed: 3          RX-bytes:  $((n * 64000))"
		echo "  RX-errors: 2"
		echo "  RX-nombuf:  0         "
		echo "  TX-packets: $((n * 900))        TX-errors: 1          TX-bytes:  $((n * 57600))"
		echo ""
		echo "  Throughput (since last show)"
		echo "  Rx-pps:            7          Rx-bps:            7"
		echo "  Tx-pps:            7          Tx-bps:            7"
		echo "  ############################################################################" ;;
	quit)
		case $mode in
		segv) kill -SEGV $$ ;;
		hang) trap '' INT; exec sleep 60 ;;
		esac
		echo "Bye..."; exit 0 ;;
	esac
	printf 'testpmd> '
done
echo "Bye..."
`

// fakeStats is what the fake prints for its n-th "show port stats 0".
func fakeStats(n uint64) Stats {
	return Stats{RxPackets: n * 1000, RxBytes: n * 64000, RxMissed: 3, RxErrors: 2, TxPackets: n * 900, TxBytes: n * 57600, TxErrors: 1}
}

// useFake points TESTPMD at the fake for this test.
func useFake(t *testing.T, mode string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-testpmd")
	if err := os.WriteFile(path, []byte(fakeTestpmd), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TESTPMD", path)
	t.Setenv("FAKE_TESTPMD_MODE", mode)
}

func startFake(t *testing.T, mode string) *Peer {
	t.Helper()
	useFake(t, mode)
	p, err := Start(context.Background(), Config{Role: "client", Socket: "@fake", Log: testLog(t, "fake")})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

// checkGone checks that no goroutine of p is left.
func checkGone(t *testing.T, p *Peer) {
	t.Helper()
	for name, ch := range map[string]chan struct{}{"waiter": p.exitedCh, "reader": p.readerDone} {
		select {
		case <-ch:
		default:
			t.Errorf("%s goroutine still running after Stop", name)
		}
	}
}

func TestFakeConsole(t *testing.T) {
	p := startFake(t, "")
	ctx := context.Background()

	wantArgs := "args: " + strings.Join(p.cfg.args(p.prefix), " ")
	if !strings.Contains(p.Output(), wantArgs+"\n") {
		t.Errorf("output lacks %q:\n%s", wantArgs, p.Output())
	}
	for n := uint64(1); n <= 2; n++ {
		got, err := p.Stats(ctx)
		if want := fakeStats(n); err != nil || got != want {
			t.Errorf("Stats() #%d = %+v, %v; want %+v", n, got, err, fakeStats(n))
		}
	}
	for i := 0; i < 2; i++ { // the second gets "already started"
		if err := p.StartForwarding(); err != nil {
			t.Fatalf("StartForwarding #%d: %v", i+1, err)
		}
	}
	for i := 0; i < 2; i++ { // the second gets "not started"
		if err := p.StopForwarding(); err != nil {
			t.Fatalf("StopForwarding #%d: %v", i+1, err)
		}
	}
	r, err := p.Stop()
	want := Result{
		ExitCode:     0,
		Final:        fakeStats(3), // the third "show port stats 0" is Stop's
		FwdRxPackets: 1000, FwdTxPackets: 900, FwdTxDropped: 77,
	}
	if err != nil || r != want {
		t.Errorf("Stop() = %+v, %v\nwant %+v, nil", r, err, want)
	}
	checkGone(t, p)
	if r2, err2 := p.Stop(); r2 != r || err2 != err {
		t.Errorf("second Stop() = %+v, %v; want the first result", r2, err2)
	}
	if _, err := p.Stats(ctx); !errors.Is(err, ErrExited) {
		t.Errorf("Stats after Stop: %v, want ErrExited", err)
	}
	if err := p.StartForwarding(); !errors.Is(err, ErrExited) {
		t.Errorf("StartForwarding after Stop: %v, want ErrExited", err)
	}
	out := p.Output()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("Output() keeps CR or ESC: %q", out)
	}
	if !strings.HasSuffix(out, "testpmd> quit\nBye...\n") {
		t.Errorf("Output() ends %q, want the quit and Bye...", out[max(0, len(out)-40):])
	}
}

func TestFakeLink(t *testing.T) {
	p := startFake(t, "link")
	if err := p.WaitConnected(shortCtx(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConnected before the link is up: %v, want DeadlineExceeded", err)
	}
	if err := p.WaitDisconnected(shortCtx(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDisconnected before the link was up: %v, want DeadlineExceeded", err)
	}
	if err := p.StartForwarding(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitConnected(shortCtx(t)); err != nil {
		t.Fatalf("WaitConnected: %v", err)
	}
	if err := p.WaitDisconnected(shortCtx(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDisconnected with the link up: %v, want DeadlineExceeded", err)
	}
	if err := p.StopForwarding(); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitDisconnected(shortCtx(t)); err != nil {
		t.Fatalf("WaitDisconnected: %v", err)
	}
	// DPDK's client never reconnects
	if err := p.WaitConnected(shortCtx(t)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConnected after a client's link went down: %v, want an immediate error", err)
	}
	if f := p.HandshakeFailure(); f != "" {
		t.Errorf("HandshakeFailure() = %q, want none", f)
	}
	if _, err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestFakeHandshakeRejected(t *testing.T) {
	p := startFake(t, "reject")
	err := p.WaitConnected(context.Background())
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), `"Incorrect secret"`) {
		t.Fatalf("WaitConnected: %v, want ErrHandshake naming \"Incorrect secret\"", err)
	}
	if got := p.HandshakeFailure(); got != "Incorrect secret" {
		t.Errorf("HandshakeFailure() = %q, want \"Incorrect secret\"", got)
	}
	if _, err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestFakeCrash(t *testing.T) {
	p := startFake(t, "segv")
	r, err := p.Stop()
	if !errors.Is(err, ErrCrashed) || !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "killed by SIGSEGV") {
		t.Errorf("Stop() error %v, want ErrCrashed and ErrExited, killed by SIGSEGV", err)
	}
	// the statistics Stop asks for come before the quit that crashes
	if want := (Result{ExitCode: -1, Signal: "SIGSEGV", Crashed: true, Final: fakeStats(1)}); r != want {
		t.Errorf("Stop() = %+v, want %+v", r, want)
	}
	checkGone(t, p)
}

func TestFakeKill(t *testing.T) {
	p := startFake(t, "")
	p.Kill()
	t0 := time.Now()
	r, err := p.Stop()
	if err != nil {
		t.Errorf("Stop after Kill: %v, want nil", err)
	}
	if want := (Result{ExitCode: -1, Signal: "SIGKILL"}); r != want {
		t.Errorf("Stop after Kill = %+v, want %+v", r, want)
	}
	if d := time.Since(t0); d > 30*time.Second {
		t.Errorf("Stop after Kill took %v", d)
	}
	if err := p.WaitConnected(context.Background()); !errors.Is(err, ErrExited) || errors.Is(err, ErrCrashed) {
		t.Errorf("WaitConnected after Kill: %v, want ErrExited, not ErrCrashed", err)
	}
	p.Kill() // after the exit: a no-op, it must not signal a reused pid
	checkGone(t, p)
}

// TestFakeEscalation: a testpmd that ignores quit, EOF and SIGINT is
// SIGKILLed, and Stop says so.
func TestFakeEscalation(t *testing.T) {
	q, i := quitGrace, intGrace
	quitGrace, intGrace = 300*time.Millisecond, 300*time.Millisecond
	t.Cleanup(func() { quitGrace, intGrace = q, i })

	p := startFake(t, "hang")
	r, err := p.Stop()
	if err == nil || errors.Is(err, ErrCrashed) ||
		!strings.Contains(err.Error(), "sent SIGINT") || !strings.Contains(err.Error(), "sent SIGKILL") {
		t.Errorf("Stop() error %v, want the SIGINT and SIGKILL escalation", err)
	}
	if want := (Result{ExitCode: -1, Signal: "SIGKILL", Final: fakeStats(1)}); r != want {
		t.Errorf("Stop() = %+v, want %+v", r, want)
	}
	checkGone(t, p)
}

func TestFakeSetupError(t *testing.T) {
	useFake(t, "setup-error")
	_, err := Start(context.Background(), Config{Role: "client", Socket: "@fake"})
	if !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), `"memif_connect_client(): Failed to connect socket: /nonexistent."`) {
		t.Errorf("Start: %v, want ErrSetup quoting the first error line", err)
	}
}

func TestFakeExitDuringStart(t *testing.T) {
	useFake(t, "die")
	_, err := Start(context.Background(), Config{Role: "client", Socket: "@fake"})
	if !errors.Is(err, ErrExited) || errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Start: %v, want ErrExited with exit status 3", err)
	}
}

func TestStartTimeout(t *testing.T) {
	useFake(t, "")
	// a server is ready only once its socket listens, which the fake never does
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	sock := "@memifpcap-fake-never-listens"
	_, err := Start(ctx, Config{Role: "server", Socket: sock})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "socket "+sock+" not listening") {
		t.Errorf("Start: %v, want DeadlineExceeded naming the socket", err)
	}
}

func TestPath(t *testing.T) {
	useFake(t, "")
	fake := os.Getenv("TESTPMD")
	if got := Path(); got != fake {
		t.Errorf("Path() with TESTPMD=%q = %q", fake, got)
	}
	t.Setenv("TESTPMD", filepath.Join(t.TempDir(), "missing"))
	if got := Path(); got != "" {
		t.Errorf("Path() with a missing TESTPMD = %q, want \"\"", got)
	}
	if _, err := Start(context.Background(), Config{Role: "client", Socket: "@x"}); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Start without testpmd: %v, want ErrNotInstalled", err)
	}
}

// TestSweepPrefixes: the EAL runtime directory of a Peer whose test binary
// died is removed by the next Start; those of live processes are not.
func TestSweepPrefixes(t *testing.T) {
	base := runtimeBase()
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Skipf("cannot create %s: %v", base, err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{ // name: removed by the sweep
		fmt.Sprintf("%s%d-1", prefixStem, dead.Process.Pid): true,
		fmt.Sprintf("%s%d-1", prefixStem, os.Getpid()):      false,
		fmt.Sprintf("%s%d-1", prefixStem, os.Getppid()):     false,
		prefixStem + "junk": false,
	}
	for d := range dirs {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(filepath.Join(base, d)) })
	}
	sweepPrefixes()
	for d, removed := range dirs {
		_, err := os.Stat(filepath.Join(base, d))
		if gone := errors.Is(err, os.ErrNotExist); gone != removed {
			t.Errorf("%s: removed %v, want %v", d, gone, removed)
		}
	}
}
