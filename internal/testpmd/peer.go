package testpmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Stop's escalation and clean-up bounds. quit takes 0.3-0.5 s on a quiet
// machine; variables so the package's tests can shorten them.
var (
	quitGrace   = 10 * time.Second // after "stop", "quit" and EOF
	intGrace    = 5 * time.Second  // after SIGINT
	killGrace   = 5 * time.Second  // after SIGKILL
	readerGrace = 2 * time.Second  // for the last output after the exit
	pollEvery   = 20 * time.Millisecond
)

// maxOutput bounds what Output keeps: the most recent bytes.
const maxOutput = 8 << 20

// prefixStem starts the EAL --file-prefix of every Peer:
// <stem><pid>-<n>, so leftovers of a killed test binary can be recognised.
const prefixStem = "memifpcap-tp-"

var prefixCounter atomic.Uint64

// Peer is a running dpdk-testpmd with one memif port. Its methods are safe
// for concurrent use. Stop must be called to end it (use t.Cleanup).
type Peer struct {
	cfg    settings
	prefix string // EAL --file-prefix
	cmd    *exec.Cmd
	pid    int
	master *os.File // pty master: testpmd's stdout and stderr

	stdinMu     sync.Mutex // serialises commands
	stdin       *os.File   // the only write end of testpmd's stdin
	stdinClosed bool

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever the state below changes
	st      outputState
	out     bytes.Buffer // cleaned output, complete lines
	outTail string       // cleaned unterminated last line
	dropped int          // bytes dropped from the front of out
	exiting bool         // testpmd has exited (maybe not reaped): no more signals
	exited  bool         // reaped; ps is set
	ps      *os.ProcessState
	killed  bool // Kill sent SIGKILL

	exitedCh   chan struct{} // closed once testpmd is reaped
	readerDone chan struct{} // closed once all output is read

	stopOnce sync.Once
	result   Result
	stopErr  error
}

// Start launches testpmd as described by cfg and returns once it is ready:
// its interactive prompt is up and, for a server, its socket listens (seen
// in /proc/net/unix); a client has by then connected its control socket
// (the handshake completes asynchronously: WaitConnected). Forwarding is not
// started: call StartForwarding. A stale socket file at a server's Socket
// path is removed first. ctx bounds the startup, DefaultTimeout if it has no
// deadline; on any failure testpmd is killed and cleaned up.
func Start(ctx context.Context, cfg Config) (*Peer, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	if !supported {
		return nil, fmt.Errorf("testpmd: start: %w", errors.ErrUnsupported)
	}
	bin := Path()
	if bin == "" {
		return nil, fmt.Errorf("testpmd: start: %w (install dpdk-dev, or set TESTPMD)", ErrNotInstalled)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	if s.Role == "server" {
		if err := prepareServerSocket(&s); err != nil {
			return nil, err
		}
	}
	sweepPrefixes()

	p, err := launch(bin, s)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx); err != nil {
		p.abort()
		return nil, fmt.Errorf("testpmd: start %s on %s: %w", s.Role, s.sockShow, err)
	}
	return p, nil
}

// prepareServerSocket refuses a socket that already listens and removes a
// stale socket file: DPDK's bind() fails on it with EADDRINUSE.
func prepareServerSocket(s *settings) error {
	ok, err := listening(s.sockShow)
	if err != nil {
		return fmt.Errorf("testpmd: check socket %s: %w", s.sockShow, err)
	}
	if ok {
		return fmt.Errorf("testpmd: start server on %s: %w", s.sockShow, ErrSocketInUse)
	}
	if s.abstract {
		return nil
	}
	if fi, err := os.Stat(filepath.Dir(s.sockArg)); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: Config.Socket %q: directory %s does not exist", ErrInvalidConfig, s.Socket, filepath.Dir(s.sockArg))
	}
	fi, err := os.Lstat(s.sockArg)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("testpmd: check socket %s: %w", s.sockArg, err)
	case fi.Mode()&os.ModeSocket == 0:
		return fmt.Errorf("%w: Config.Socket %q exists and is not a socket", ErrInvalidConfig, s.sockArg)
	}
	if err := os.Remove(s.sockArg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("testpmd: remove stale socket: %w", err)
	}
	return nil
}

// sweepPrefixes removes the EAL runtime directories of Peers whose test
// binary died before it could Stop them. Best effort.
func sweepPrefixes() {
	base := runtimeBase()
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefixStem)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == self || !pidGone(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(base, e.Name()))
	}
}

// launch starts testpmd and the two goroutines that follow it: one reads
// all its output, one waits for its exit.
func launch(bin string, s settings) (*Peer, error) {
	prefix := fmt.Sprintf("%s%d-%d", prefixStem, os.Getpid(), prefixCounter.Add(1))
	master, slave, err := openPTY()
	if err != nil {
		return nil, fmt.Errorf("testpmd: open pty for its output: %w", err)
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		master.Close()
		slave.Close()
		return nil, fmt.Errorf("testpmd: stdin pipe: %w", err)
	}
	cmd := exec.Command(bin, s.args(prefix)...)
	// stdin is a pipe whose write end only this process holds (pipe2 sets
	// O_CLOEXEC): if the test binary dies, testpmd reads EOF and quits.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, slave, slave
	cmd.SysProcAttr = procAttr()
	err = cmd.Start()
	stdinR.Close()
	slave.Close() // testpmd holds the only slave now: its exit ends the reads with EIO
	if err != nil {
		master.Close()
		stdinW.Close()
		return nil, fmt.Errorf("testpmd: exec %s: %w", bin, err)
	}
	p := &Peer{
		cfg:        s,
		prefix:     prefix,
		cmd:        cmd,
		pid:        cmd.Process.Pid,
		master:     master,
		stdin:      stdinW,
		changed:    make(chan struct{}),
		exitedCh:   make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	go p.read()
	go p.wait()
	return p, nil
}

// wait reaps testpmd. Between its exit and the reap, exiting stops further
// signals (see waitNoReap).
func (p *Peer) wait() {
	defer close(p.exitedCh)
	if waitNoReap(p.pid) {
		p.mu.Lock()
		p.exiting = true
		p.mu.Unlock()
	}
	p.cmd.Wait()
	p.mu.Lock()
	p.exiting, p.exited = true, true
	p.ps = p.cmd.ProcessState
	p.broadcastLocked()
	p.mu.Unlock()
}

// read is the one goroutine that scans testpmd's output: it keeps it for
// Output, copies it to Config.Log and feeds the state waiters look at.
func (p *Peer) read() {
	defer close(p.readerDone)
	defer p.master.Close()
	buf := make([]byte, 32<<10)
	var line []byte
	var lines []string
	for {
		n, err := p.master.Read(buf)
		data := buf[:n]
		lines = lines[:0]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			end := len(data)
			if i >= 0 {
				end = i
			}
			line = append(line, data[:end]...)
			for len(line) > maxLineLen { // output that never ends a line
				lines = append(lines, cleanLine(line[:maxLineLen]))
				line = append(line[:0], line[maxLineLen:]...)
			}
			if i < 0 {
				break
			}
			lines = append(lines, cleanLine(line))
			line = line[:0]
			data = data[i+1:]
		}
		// EIO: every slave fd is closed, testpmd has exited.
		if err != nil && len(line) > 0 {
			lines = append(lines, cleanLine(line))
			line = line[:0]
		}
		tail := cleanLine(line)
		p.mu.Lock()
		for _, l := range lines {
			p.st.line(l)
			p.appendOutputLocked(l)
		}
		p.st.partial(tail)
		p.outTail = tail
		p.broadcastLocked()
		p.mu.Unlock()
		if w := p.cfg.Log; w != nil {
			for _, l := range lines {
				w.Write([]byte(l + "\n"))
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Peer) appendOutputLocked(l string) {
	p.out.WriteString(l)
	p.out.WriteByte('\n')
	if p.out.Len() <= maxOutput {
		return
	}
	b := p.out.Bytes()
	cut := len(b) - maxOutput/2
	if i := bytes.IndexByte(b[cut:], '\n'); i >= 0 {
		cut += i + 1
	}
	p.dropped += cut
	p.out.Next(cut)
}

func (p *Peer) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// until waits until cond, called with p.mu held, reports done. It wakes on
// every output chunk and on exit, and every pollEvery if poll is set (for
// conditions outside the output, such as /proc/net/unix). Without a
// deadline in ctx it gives up after DefaultTimeout.
func (p *Peer) until(ctx context.Context, poll bool, cond func() (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var tick <-chan time.Time
	if poll {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		p.mu.Lock()
		done, err := cond()
		ch := p.changed
		p.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-ch:
		case <-tick:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// exitErrLocked describes testpmd's exit; nil while it runs.
func (p *Peer) exitErrLocked() error {
	if !p.exited {
		return nil
	}
	code, sig, crashed := describeExit(p.ps)
	e := &exitError{crashed: crashed}
	switch {
	case sig != "" && p.killed && sig == "SIGKILL":
		e.desc = "killed by SIGKILL (Kill)"
	case sig != "":
		e.desc = "killed by " + sig
	default:
		e.desc = fmt.Sprintf("exit status %d", code)
	}
	if p.st.setupErr != "" {
		e.desc += fmt.Sprintf(" after %q", p.st.setupErr)
	}
	return e
}

// exitError is testpmd's unexpected end; it matches ErrExited, and
// ErrCrashed too when a crash signal killed it.
type exitError struct {
	desc    string
	crashed bool
}

func (e *exitError) Error() string {
	if e.crashed {
		return "testpmd crashed: " + e.desc
	}
	return "testpmd exited: " + e.desc
}

func (e *exitError) Is(target error) bool {
	return target == ErrExited || e.crashed && target == ErrCrashed
}

// waitReady waits for the first prompt and, for a server, the listening
// socket; a setup error line or an exit ends the wait early.
func (p *Peer) waitReady(ctx context.Context) error {
	server := p.cfg.Role == "server"
	var procErr error
	err := p.until(ctx, server, func() (bool, error) {
		switch {
		case p.st.setupErr != "":
			return true, fmt.Errorf("%w: %q", ErrSetup, p.st.setupErr)
		case p.exited:
			return true, p.exitErrLocked()
		case !p.st.ready:
			return false, nil
		case !server:
			return true, nil
		}
		ok, err := listening(p.cfg.sockShow)
		if err != nil {
			return true, err
		}
		procErr = nil
		if !ok {
			procErr = fmt.Errorf("socket %s not listening (%s)", p.cfg.sockShow, procNetUnix)
		}
		return ok, nil
	})
	if err != nil && procErr != nil {
		return fmt.Errorf("%w: %w", err, procErr)
	}
	return err
}

// abort ends a Peer that failed to start.
func (p *Peer) abort() {
	p.Kill()
	p.closeStdin()
	p.finish(killGrace)
	os.RemoveAll(p.runDir())
}

// runDir is the EAL runtime directory testpmd leaves behind.
func (p *Peer) runDir() string {
	return filepath.Join(runtimeBase(), p.prefix)
}

// finish waits for the exit and the last output, each up to d, and reports
// whether testpmd exited.
func (p *Peer) finish(d time.Duration) bool {
	exited := waitFor(p.exitedCh, d)
	if !waitFor(p.readerDone, readerGrace) {
		// a Read blocked on the poller returns once the master is closed
		p.master.Close()
		<-p.readerDone
	}
	return exited
}

func waitFor(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// signal sends sig to testpmd's process group unless it has exited.
func (p *Peer) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exiting {
		return
	}
	signalGroup(p.pid, sig)
}

// command writes one console line.
func (p *Peer) command(line string) error {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdinClosed {
		return ErrStopped
	}
	if _, err := p.stdin.WriteString(line + "\n"); err != nil {
		return fmt.Errorf("write %q to testpmd's stdin: %w", line, err)
	}
	return nil
}

func (p *Peer) closeStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if !p.stdinClosed {
		p.stdinClosed = true
		p.stdin.Close()
	}
}

// ack sends a command and waits for its answer: until reached, read with
// p.mu held, moves past the value mark had when the command was sent. mark
// counts answers started and reached answers completed, so an answer still
// being printed to an earlier command does not count.
func (p *Peer) ack(ctx context.Context, line string, mark, reached func() uint64) error {
	p.mu.Lock()
	before := mark()
	err := p.exitErrLocked()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if err := p.command(line); err != nil {
		return err
	}
	return p.until(ctx, false, func() (bool, error) {
		if reached() > before {
			return true, nil
		}
		return p.exited, p.exitErrLocked()
	})
}

// StartForwarding sends "start" and waits for testpmd to acknowledge it.
// Forwarding runs whether or not the memif link is up.
func (p *Peer) StartForwarding() error {
	started := func() uint64 { return p.st.fwdStarted }
	if err := p.ack(context.Background(), "start", started, started); err != nil {
		return fmt.Errorf("testpmd: start forwarding: %w", err)
	}
	return nil
}

// StopForwarding sends "stop" and waits for testpmd's forward statistics.
// Afterwards no lcore polls the memif rings, so the peer may disconnect
// without risking DPDK 22.11's crash on disconnect, and Stats are frozen
// while the link stays up.
func (p *Peer) StopForwarding() error {
	stopped := func() uint64 { return p.st.fwdStopped }
	if err := p.ack(context.Background(), "stop", stopped, stopped); err != nil {
		return fmt.Errorf("testpmd: stop forwarding: %w", err)
	}
	return nil
}

// WaitConnected waits until the memif link is up ("memif_connect():
// Connected."), which may have happened already. It fails early if testpmd
// exits, or, for a DPDK client, if its one handshake failed (ErrHandshake)
// or its link went down again: DPDK's client never retries.
func (p *Peer) WaitConnected(ctx context.Context) error {
	err := p.until(ctx, false, func() (bool, error) {
		switch {
		case p.st.linkUp:
			return true, nil
		case p.exited:
			return true, p.exitErrLocked()
		case p.cfg.Role == "client" && p.st.handshakeFailures > 0:
			return true, fmt.Errorf("%w: %q (DPDK's client does not retry)", ErrHandshake, p.st.handshakeFailure)
		case p.cfg.Role == "client" && p.st.disconnects > 0:
			return true, errors.New("link went down and DPDK's client does not reconnect")
		}
		return false, nil
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			p.mu.Lock()
			r, last := p.st.handshakeFailure, p.st.lastMemif
			p.mu.Unlock()
			if r != "" {
				err = fmt.Errorf("%w (last handshake failure: %q)", err, r)
			}
			if last != "" {
				err = fmt.Errorf("%w (last memif log line: %q)", err, last)
			}
		}
		return fmt.Errorf("testpmd: wait for memif link up on %s: %w", p.cfg.sockShow, err)
	}
	return nil
}

// WaitDisconnected waits until the memif link is down after having been up:
// it returns at once if the link went down and is still down, and waits for
// the next link down while it is up. If testpmd exits meanwhile the error
// matches ErrExited, and ErrCrashed for DPDK 22.11's crash when a peer
// disconnects.
func (p *Peer) WaitDisconnected(ctx context.Context) error {
	err := p.until(ctx, false, func() (bool, error) {
		switch {
		case !p.st.linkUp && p.st.disconnects > 0:
			return true, nil
		case p.exited:
			return true, p.exitErrLocked()
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("testpmd: wait for memif link down on %s: %w", p.cfg.sockShow, err)
	}
	return nil
}

// HandshakeFailure returns the reason of the latest memif handshake that
// failed before the link came up, or "" if none did. A DPDK client reports
// the reason its server sent ("Incorrect secret", "Secret required", "ID
// not found", "Invalid ring index", ...). A DPDK server logs only "ID not
// found"; for its other rejections this returns ReasonNotLogged.
func (p *Peer) HandshakeFailure() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st.handshakeFailure
}

// Stats sends "show port stats 0" and returns the counters of the block
// printed in reply. They read 0 while the memif link is down (DPDK 22.11).
func (p *Peer) Stats(ctx context.Context) (Stats, error) {
	started := func() uint64 { return p.st.nicStarted }
	done := func() uint64 { return p.st.nicDoneStart }
	if err := p.ack(ctx, "show port stats 0", started, done); err != nil {
		return Stats{}, fmt.Errorf("testpmd: show port stats 0: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st.stats, nil
}

// Output returns everything testpmd printed so far (the most recent 8 MiB),
// with carriage returns and ANSI escape sequences removed.
func (p *Peer) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	if p.dropped > 0 {
		fmt.Fprintf(&b, "[... %d bytes of earlier output dropped ...]\n", p.dropped)
	}
	b.Write(p.out.Bytes())
	b.WriteString(p.outTail)
	return b.String()
}

// Kill sends SIGKILL to testpmd's process group, to emulate a peer that
// crashes; it does not wait. Stop still has to be called, and returns at
// once with Signal "SIGKILL" and no error.
func (p *Peer) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exiting {
		return
	}
	p.killed = true
	signalGroup(p.pid, syscall.SIGKILL)
}

// Stop ends testpmd and returns how it ended. It asks for a last "show port
// stats 0", then "stop" and "quit", and closes testpmd's stdin; if testpmd
// has not exited 10 s later it sends SIGINT, then SIGKILL 5 s after that.
// It then removes testpmd's EAL runtime directory. The error is nil for a
// clean exit, and after Kill; otherwise it says what happened, matching
// ErrCrashed for a crash (DPDK 22.11's SIGSEGV when a peer disconnects while
// testpmd forwards: a warning for a test whose peer left first) and
// ErrExited for another unexpected end. Stop is idempotent; when it returns
// no goroutine of the Peer is left.
func (p *Peer) Stop() (Result, error) {
	p.stopOnce.Do(func() { p.result, p.stopErr = p.stop() })
	return p.result, p.stopErr
}

func (p *Peer) stop() (Result, error) {
	var errs []error
	p.mu.Lock()
	running := !p.exiting
	p.mu.Unlock()
	if running {
		// one write: testpmd reads and runs the lines in order; the
		// statistics come before "stop", while the link may still be up
		p.command("show port stats 0\nstop\nquit")
	}
	p.closeStdin()

	exited := waitFor(p.exitedCh, quitGrace)
	if !exited {
		errs = append(errs, fmt.Errorf("no exit %v after quit and EOF: sent SIGINT", quitGrace))
		p.signal(syscall.SIGINT)
		exited = waitFor(p.exitedCh, intGrace)
	}
	if !exited {
		errs = append(errs, fmt.Errorf("no exit %v after SIGINT: sent SIGKILL", intGrace))
		p.signal(syscall.SIGKILL)
	}
	if !p.finish(killGrace) {
		errs = append(errs, fmt.Errorf("pid %d did not exit after SIGKILL", p.pid))
	}
	if err := os.RemoveAll(p.runDir()); err != nil {
		errs = append(errs, fmt.Errorf("remove EAL runtime directory: %w", err))
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	r := Result{
		ExitCode:     -1,
		Final:        p.st.stats,
		FwdRxPackets: p.st.fwdRx,
		FwdTxPackets: p.st.fwdTx,
		FwdTxDropped: p.st.fwdTxDropped,
	}
	if p.exited {
		r.ExitCode, r.Signal, r.Crashed = describeExit(p.ps)
		switch {
		case len(errs) > 0: // the escalation explains the signal
		case p.killed && r.Signal == "SIGKILL":
		case r.Signal != "" || r.ExitCode != 0:
			errs = append(errs, p.exitErrLocked())
		}
	}
	if len(errs) == 0 {
		return r, nil
	}
	// one line, every cause findable with errors.Is
	format := "testpmd: stop %s on %s: " + strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; ")
	args := []any{p.cfg.Role, p.cfg.sockShow}
	for _, e := range errs {
		args = append(args, e)
	}
	return r, fmt.Errorf(format, args...)
}
