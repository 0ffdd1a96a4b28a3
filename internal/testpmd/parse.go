package testpmd

import (
	"strconv"
	"strings"
)

// prompt is what testpmd's cmdline prints, without a newline, when it waits
// for a command. Log lines from other threads then continue on that line.
const prompt = "testpmd> "

// Line fragments that testpmd (stdout) and the memif PMD's debug log
// (stderr, --log-level=pmd.net.memif:debug) print, as of DPDK 22.11.
const (
	lineConnected      = "memif_connect(): Connected."            // link up, both roles
	lineAccepted       = "Connection request accepted."           // server: a client connected to the socket
	lineClientSocket   = "memif_connect_client(): Memif socket: " // client: "... <path> connected."
	lineDisconnected   = "memif_disconnect(): Disconnected"       // link down, or control channel closed
	lineDiscReceived   = "Disconnect received: "                  // the peer's DISCONNECT reason
	lineIDNotFound     = "memif_msg_receive_init(): ID "          // server: "... <id> not found."
	lineFwdStarted     = " packet forwarding - ports="            // "start" (and "show config fwd")
	lineFwdAlready     = "Packet forwarding already started"      // "start" again
	lineFwdNotStarted  = "Packet forwarding not started"          // "stop" without "start"
	lineNICStats       = "NIC statistics for port 0 "             // "show port stats 0" block header
	lineFwdStats       = "Forward statistics for port 0 "         // "stop" block header, port 0
	lineOtherFwdStats  = "Forward statistics for port"            // another port's block
	lineAccumulatedFwd = "Accumulated forward statistics"         // the all-ports block
	reasonIDNotFound   = "ID not found"                           // DPDK's DISCONNECT string for lineIDNotFound
	maxLineLen         = 64 << 10                                 // longer output is split
)

// setupErrors are fragments of the lines with which EAL, the memif PMD and
// testpmd report that startup failed. testpmd often keeps running after
// them (without a usable port), so they are the only signal.
var setupErrors = []string{
	"Fail to start port",               // testpmd: port start failed (client: no server)
	"failed to initialize net_memif",   // EAL: vdev probe failed
	"Failed to setup socket",           // memif server: bind/listen failed (EADDRINUSE: stale file)
	"Failed to connect socket",         // memif client: nobody listens
	"Invalid socket directory",         // memif: socket path's directory
	"Zero-copy doesn't support",        // memif zero-copy without --single-file-segments
	"EAL: FATAL",                       // EAL init
	"Cause:",                           // rte_exit(): the reason
	"EAL: Error - exiting",             // rte_exit()
	"Bad arguments",                    // EAL arguments
	"Creation of mbuf pool for socket", // mempool does not fit the memory
	"Invalid ",                         // testpmd/memif argument parsing ("Invalid ... argument")
}

// isSetupError reports whether l is a setup error line. "Invalid " alone is
// too broad (e.g. "Invalid message size" when a peer leaves), so it needs
// "argument" or "option" on the same line.
func isSetupError(l string) bool {
	for _, f := range setupErrors {
		if !strings.Contains(l, f) {
			continue
		}
		if f == "Invalid " && !strings.Contains(l, "argument") && !strings.Contains(l, "option") {
			continue
		}
		return true
	}
	return false
}

// cleanLine removes what a terminal would interpret rather than show:
// carriage returns (cmdline echoes commands with "\r\n"), ANSI escape
// sequences (periodic statistics start with ESC[2J ESC[1;1H) and other
// control characters except tab.
func cleanLine(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x1b:
			i = skipEscape(b, i)
		case c == '\t' || c >= ' ' && c != 0x7f:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// skipEscape returns the index of the last byte of the escape sequence that
// starts at b[i] (an ESC).
func skipEscape(b []byte, i int) int {
	if i+1 >= len(b) {
		return i
	}
	switch b[i+1] {
	case '[': // CSI: parameters and intermediates, then one final byte 0x40..0x7e
		j := i + 2
		for j < len(b) && b[j] >= 0x20 && b[j] <= 0x3f {
			j++
		}
		if j < len(b) && b[j] >= 0x40 && b[j] <= 0x7e {
			return j
		}
		return j - 1
	case ']': // OSC: up to BEL or ESC '\'
		for j := i + 2; j < len(b); j++ {
			if b[j] == 0x07 {
				return j
			}
			if b[j] == 0x1b && j+1 < len(b) && b[j+1] == '\\' {
				return j + 1
			}
		}
		return len(b) - 1
	default: // a two-byte sequence such as ESC 7
		return i + 1
	}
}

// stripPrompts removes the prompts that precede a line and reports whether
// there was one.
func stripPrompts(l string) (string, bool) {
	seen := false
	for strings.HasPrefix(l, prompt) {
		l, seen = l[len(prompt):], true
	}
	return l, seen
}

// block is the multi-line statistics block being read.
type block int

const (
	blockNone block = iota
	blockNIC        // "show port stats 0"
	blockFwd        // "Forward statistics for port 0"
)

// outputState is everything learnt from testpmd's output. The Peer guards it
// with its mutex; the methods here are pure so they are tested on captured
// output.
type outputState struct {
	ready    bool   // the first prompt was printed: startup is over
	setupErr string // the first setup error line

	linkUp      bool
	connects    int
	disconnects int
	// handshaking: a control connection is open and the link is not up yet,
	// so a "Disconnected" now means the handshake failed.
	handshaking bool
	discReason  string // the peer's DISCONNECT reason, until the "Disconnected" it causes

	handshakeFailures int
	handshakeFailure  string // the reason of the latest one
	lastDiscReason    string // the peer's reason for the latest link down, if it gave one
	lastMemif         string // the latest memif PMD log line: how far a stuck handshake got

	// Statistics blocks are numbered as they start, so a command can wait
	// for a block that started after it was sent.
	nicStarted   uint64 // NIC statistics blocks started
	nicDoneStart uint64 // the start number of the latest completed one
	stats        Stats  // its counters
	fwdStarted   uint64 // "start" acknowledgements
	fwdStopped   uint64 // "stop" acknowledgements: complete port 0 forward statistics blocks, or "not started"
	fwdRx        uint64
	fwdTx        uint64
	fwdTxDropped uint64

	block block
	cur   Stats  // NIC block being read
	curFx uint64 // forward block being read: RX-packets
	curFt uint64 // TX-packets
	curFd uint64 // TX-dropped
}

// line processes one complete, cleaned line.
func (s *outputState) line(l string) {
	l, p := stripPrompts(l)
	if p {
		s.ready = true
	}
	if l == "" {
		return
	}
	s.event(l)
	s.statsLine(l)
}

// partial processes the unterminated tail of the output read so far: a
// prompt waiting for a command shows up only there.
func (s *outputState) partial(l string) {
	if strings.HasSuffix(l, prompt) {
		s.ready = true
	}
}

// event handles the memif and testpmd lines that change the link state or
// acknowledge a command.
func (s *outputState) event(l string) {
	if strings.HasPrefix(l, "memif_") || strings.HasPrefix(l, "rte_pmd_memif_") {
		s.lastMemif = l
	}
	switch {
	case strings.Contains(l, lineConnected):
		if !s.linkUp {
			s.linkUp = true
			s.connects++
		}
		s.handshaking = false
		s.discReason = ""
	case strings.Contains(l, lineAccepted),
		strings.Contains(l, lineClientSocket) && strings.HasSuffix(l, " connected."):
		s.handshaking = true
		s.discReason = ""
	case strings.Contains(l, lineDiscReceived):
		_, r, _ := strings.Cut(l, lineDiscReceived)
		s.discReason = strings.TrimSpace(r)
	case strings.Contains(l, lineIDNotFound) && strings.HasSuffix(l, " not found."):
		// DPDK's server closes the channel without a "Disconnected" line
		// here (no device is bound to it yet), and this is the one
		// rejection whose reason it logs.
		s.handshaking = false
		s.handshakeFailures++
		s.handshakeFailure = reasonIDNotFound
	case strings.Contains(l, lineDisconnected):
		// DPDK logs it twice per disconnect (once more when the port
		// stops); only the first after a link up or a handshake counts.
		switch {
		case s.linkUp:
			s.linkUp = false
			s.disconnects++
			s.lastDiscReason = s.discReason
		case s.handshaking:
			s.handshakeFailures++
			s.handshakeFailure = s.discReason
			if s.handshakeFailure == "" {
				s.handshakeFailure = ReasonNotLogged
			}
		}
		s.handshaking = false
		s.discReason = ""
	case strings.Contains(l, lineFwdStarted), strings.Contains(l, lineFwdAlready):
		s.fwdStarted++
	case strings.Contains(l, lineFwdNotStarted):
		s.fwdStopped++
	}
	if s.setupErr == "" && isSetupError(l) {
		s.setupErr = strings.TrimSpace(l)
	}
}

// statsLine follows the statistics blocks. Log lines from the interrupt
// thread can land inside a block; only "Key: value" pairs are read.
func (s *outputState) statsLine(l string) {
	switch {
	case strings.Contains(l, lineNICStats):
		s.block = blockNIC
		s.cur = Stats{}
		s.nicStarted++
		return
	case strings.Contains(l, lineFwdStats):
		s.block = blockFwd
		s.curFx, s.curFt, s.curFd = 0, 0, 0
		return
	case strings.Contains(l, lineOtherFwdStats), strings.Contains(l, lineAccumulatedFwd):
		s.block = blockNone
		return
	}
	switch s.block {
	case blockNIC:
		if isRule(l, '#') {
			s.block = blockNone
			s.stats = s.cur
			s.nicDoneStart = s.nicStarted
			return
		}
		forEachCounter(l, func(k string, v uint64) {
			switch k {
			case "RX-packets:":
				s.cur.RxPackets = v
			case "RX-missed:":
				s.cur.RxMissed = v
			case "RX-bytes:":
				s.cur.RxBytes = v
			case "RX-errors:":
				s.cur.RxErrors = v
			case "TX-packets:":
				s.cur.TxPackets = v
			case "TX-errors:":
				s.cur.TxErrors = v
			case "TX-bytes:":
				s.cur.TxBytes = v
			}
		})
	case blockFwd:
		if isRule(l, '-') {
			s.block = blockNone
			s.fwdRx, s.fwdTx, s.fwdTxDropped = s.curFx, s.curFt, s.curFd
			s.fwdStopped++
			return
		}
		forEachCounter(l, func(k string, v uint64) {
			switch k {
			case "RX-packets:":
				s.curFx = v
			case "TX-packets:":
				s.curFt = v
			case "TX-dropped:":
				s.curFd = v
			}
		})
	}
}

// isRule reports whether l is a block's closing rule: only c, at least 8.
func isRule(l string, c byte) bool {
	l = strings.TrimSpace(l)
	if len(l) < 8 {
		return false
	}
	for i := 0; i < len(l); i++ {
		if l[i] != c {
			return false
		}
	}
	return true
}

// forEachCounter calls f for every "Key: <decimal>" pair on a statistics
// line such as "  RX-packets: 26016192   RX-missed: 0   RX-bytes:  1665036288".
func forEachCounter(l string, f func(key string, v uint64)) {
	fs := strings.Fields(l)
	for i := 0; i+1 < len(fs); i++ {
		if !strings.HasSuffix(fs[i], ":") {
			continue
		}
		if v, err := strconv.ParseUint(fs[i+1], 10, 64); err == nil {
			f(fs[i], v)
			i++
		}
	}
}
