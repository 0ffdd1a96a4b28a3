package testpmd

import (
	"strings"
	"testing"
)

// Output captured from DPDK 22.11.11 testpmd with
// --log-level=pmd.net.memif:debug (stdout and stderr interleaved, as on the
// pty), trimmed.
const (
	// server, rxonly; a client connects, sends, leaves with testpmd's quit
	serverSession = `EAL: Detected CPU lcores: 2
rte_pmd_memif_probe(): Initialize MEMIF: net_memif0.
memif_socket_create(): Memif listener socket /tmp/tpx/m.sock created.
Interactive-mode selected
Set rxonly packet forwarding mode
Configuring Port 0 (socket 0)
Port 0: 52:C4:4F:FB:5F:23
Checking link statuses...
Done
testpmd> start` + "\r" + `
rxonly packet forwarding - ports=1 - cores=1 - streams=1 - NUMA support enabled, MP allocation mode: native
Logical Core 1 (socket 0) forwards packets on 1 streams:
testpmd> memif_listener_handler(): /tmp/tpx/m.sock: Connection request accepted.
memif_msg_send_from_queue(): Sent msg type 2.
memif_msg_receive(): Received msg type: 3.
memif_msg_send_from_queue(): Sent msg type 1.
memif_msg_receive(): Received msg type: 6.
memif_connect(): Connected.
memif_msg_receive_connect(): Remote interface net_memif0 connected.
memif_msg_send_from_queue(): Sent msg type 7.
show port stats 0` + "\r" + `

  ######################## NIC statistics for port 0  ########################
  RX-packets: 26016192   RX-missed: 0          RX-bytes:  1665036288
  RX-errors: 0
  RX-nombuf:  0         
  TX-packets: 0          TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:     12345678          Rx-bps:   6320987136
  Tx-pps:            0          Tx-bps:            0
  ############################################################################
testpmd> stop` + "\r" + `
Telling cores to stop...
Waiting for lcores to finish...

  ---------------------- Forward statistics for port 0  ----------------------
  RX-packets: 45839488       RX-dropped: 0             RX-total: 45839488
  TX-packets: 0              TX-dropped: 0             TX-total: 0
  ----------------------------------------------------------------------------

  +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++
  RX-packets: 45839488       RX-dropped: 0             RX-total: 45839488
  TX-packets: 0              TX-dropped: 0             TX-total: 0
  ++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++++

Done.
testpmd> memif_msg_receive(): Invalid message size = 0
memif_disconnect(): Disconnected, id: 0, role: server.
quit` + "\r" + `
Stopping port 0...
memif_disconnect(): Disconnected, id: 0, role: server.
Stopping ports...
Shutting down port 0...
memif_msg_enq_disconnect(): Missing control channel.
Port 0 is closed
Bye...`

	// client with the wrong secret
	clientRejected = `rte_pmd_memif_probe(): Initialize MEMIF: net_memif0.
memif_connect_client(): Memif socket: /tmp/tpx/m.sock connected.
Checking link statuses...
memif_msg_receive(): Received msg type: 2.
memif_msg_receive_hello(): Connecting to DPDK 22.11.11.
memif_msg_send_from_queue(): Sent msg type 3.
memif_msg_receive(): Received msg type: 8.
memif_msg_receive_disconnect(): Disconnect received: Incorrect secret
memif_disconnect(): Disconnected, id: 0, role: client.
memif_disconnect(): Disconnected, id: 0, role: client.
memif_msg_enq_disconnect(): Missing control channel.
testpmd> `

	// its server: the reason goes out in the DISCONNECT, not to the log
	serverRejected = `memif_socket_create(): Memif listener socket /tmp/tpx/m.sock created.
Checking link statuses...
testpmd> memif_listener_handler(): /tmp/tpx/m.sock: Connection request accepted.
memif_msg_send_from_queue(): Sent msg type 2.
memif_msg_receive(): Received msg type: 3.
memif_msg_send_from_queue(): Sent msg type 8.
memif_disconnect(): Disconnected, id: 0, role: server.
quit` + "\r" + `
memif_disconnect(): Disconnected, id: 0, role: server.
memif_msg_enq_disconnect(): Missing control channel.
Bye...`

	// server with id 1, client asking for id 2: no "Disconnected" on the
	// server until its port stops
	serverIDNotFound = `testpmd> memif_listener_handler(): /tmp/tpx/m.sock: Connection request accepted.
memif_msg_send_from_queue(): Sent msg type 2.
memif_msg_receive(): Received msg type: 3.
memif_msg_receive_init(): ID 2 not found.
memif_msg_send_from_queue(): Sent msg type 8.
quit` + "\r" + `
memif_disconnect(): Disconnected, id: 1, role: server.
Bye...`

	// client without a server
	clientNoServer = `rte_pmd_memif_probe(): Initialize MEMIF: net_memif0.
memif_connect_client(): Failed to connect socket: /tmp/tpx/none.sock.
Fail to start port 0: Operation not permitted
testpmd> `
)

// feed runs output through an outputState line by line as the reader does.
func feed(out string) *outputState {
	var s outputState
	lines := strings.Split(out, "\n")
	for _, l := range lines[:len(lines)-1] {
		s.line(cleanLine([]byte(l)))
	}
	s.partial(cleanLine([]byte(lines[len(lines)-1])))
	return &s
}

func TestOutputStateServerSession(t *testing.T) {
	s := feed(serverSession)
	if !s.ready || s.setupErr != "" {
		t.Errorf("ready %v, setupErr %q; want ready, no error", s.ready, s.setupErr)
	}
	if s.linkUp || s.connects != 1 || s.disconnects != 1 || s.handshakeFailures != 0 || s.handshakeFailure != "" {
		t.Errorf("link up %v, connects %d, disconnects %d, handshake failures %d %q; want down, 1, 1, 0",
			s.linkUp, s.connects, s.disconnects, s.handshakeFailures, s.handshakeFailure)
	}
	want := Stats{RxPackets: 26016192, RxBytes: 1665036288}
	if s.stats != want || s.nicStarted != 1 || s.nicDoneStart != 1 {
		t.Errorf("stats %+v (block %d of %d), want %+v (block 1 of 1)", s.stats, s.nicDoneStart, s.nicStarted, want)
	}
	if s.fwdRx != 45839488 || s.fwdTx != 0 || s.fwdTxDropped != 0 || s.fwdStarted != 1 || s.fwdStopped != 1 {
		t.Errorf("forward rx %d tx %d dropped %d, starts %d stops %d; want 45839488 0 0, 1 1",
			s.fwdRx, s.fwdTx, s.fwdTxDropped, s.fwdStarted, s.fwdStopped)
	}
}

func TestOutputStateHandshakeFailures(t *testing.T) {
	for _, c := range []struct {
		name, out, reason string
	}{
		{"client wrong secret", clientRejected, "Incorrect secret"},
		{"server wrong secret", serverRejected, ReasonNotLogged},
		{"server id not found", serverIDNotFound, "ID not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := feed(c.out)
			if s.handshakeFailures != 1 || s.handshakeFailure != c.reason {
				t.Errorf("handshake failures %d, reason %q; want 1, %q", s.handshakeFailures, s.handshakeFailure, c.reason)
			}
			if s.linkUp || s.connects != 0 || s.disconnects != 0 || s.setupErr != "" {
				t.Errorf("link up %v, connects %d, disconnects %d, setupErr %q; want none",
					s.linkUp, s.connects, s.disconnects, s.setupErr)
			}
		})
	}
}

func TestOutputStateSetupError(t *testing.T) {
	s := feed(clientNoServer)
	if want := "memif_connect_client(): Failed to connect socket: /tmp/tpx/none.sock."; s.setupErr != want || !s.ready {
		t.Errorf("setupErr %q, ready %v; want %q, ready", s.setupErr, s.ready, want)
	}
	for _, l := range []string{
		"memif_msg_receive(): Invalid message size = 0", // a peer left
		"Invalid-mode selected",
		"Port 0 is closed",
	} {
		if isSetupError(l) {
			t.Errorf("isSetupError(%q) = true", l)
		}
	}
	for _, l := range []string{
		"memif_socket_create(): Failed to setup socket /tmp/x.sock: Address already in use.",
		"vdev_probe(): failed to initialize net_memif0 device",
		"EAL: Error - exiting with code: 1",
		"  Cause: Creation of mbuf pool for socket 0 failed: Cannot allocate memory",
		"Invalid socket-abstract argument",
	} {
		if !isSetupError(l) {
			t.Errorf("isSetupError(%q) = false", l)
		}
	}
}

// TestOutputStateInterleaved: a log line from the interrupt thread inside a
// statistics block changes the link state and leaves the block intact;
// garbage values are skipped, not parsed.
func TestOutputStateInterleaved(t *testing.T) {
	s := feed(`  ######################## NIC statistics for port 0  ########################
  RX-packets: 5   RX-missed: x   RX-bytes:  320
memif_connect(): Connected.
  RX-errors: 99999999999999999999999
  TX-packets: -1   TX-errors: 4   TX-bytes: 18446744073709551615
  ####
  ############################################################################
`)
	want := Stats{RxPackets: 5, RxBytes: 320, TxErrors: 4, TxBytes: 18446744073709551615}
	if s.stats != want || !s.linkUp || s.nicDoneStart != 1 {
		t.Errorf("stats %+v, link up %v, done %d; want %+v, up, 1", s.stats, s.linkUp, s.nicDoneStart, want)
	}
}

// TestOutputStateOtherPorts: blocks for other ports do not touch port 0's.
func TestOutputStateOtherPorts(t *testing.T) {
	s := feed(`  ---------------------- Forward statistics for port 0  ----------------------
  RX-packets: 1       RX-dropped: 0             RX-total: 1
  TX-packets: 2       TX-dropped: 3             TX-total: 5
  ----------------------------------------------------------------------------
  ---------------------- Forward statistics for port 1  ----------------------
  RX-packets: 10      RX-dropped: 0             RX-total: 10
  TX-packets: 20      TX-dropped: 30            TX-total: 50
  ----------------------------------------------------------------------------
  ######################## NIC statistics for port 1  ########################
  RX-packets: 7   RX-missed: 0   RX-bytes:  448
  ############################################################################
`)
	if s.fwdRx != 1 || s.fwdTx != 2 || s.fwdTxDropped != 3 || s.fwdStopped != 1 {
		t.Errorf("forward %d/%d/%d stops %d; want port 0's 1/2/3, 1", s.fwdRx, s.fwdTx, s.fwdTxDropped, s.fwdStopped)
	}
	if s.nicStarted != 0 || s.stats != (Stats{}) {
		t.Errorf("NIC stats %+v from %d blocks; port 1's must be ignored", s.stats, s.nicStarted)
	}
}

func TestCleanLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"testpmd> start\r", "testpmd> start"},
		{"\x1b[2J\x1b[1;1H  ####", "  ####"},
		{"a\x1b[0;31mred\x1b[0m b", "ared b"},
		{"osc \x1b]0;title\x07done", "osc done"},
		{"osc \x1b]0;title\x1b\\done", "osc done"},
		{"two-byte \x1b7x", "two-byte x"},
		{"unterminated \x1b[12", "unterminated "},
		{"trailing esc \x1b", "trailing esc "},
		{"ctl\x00\x07\x7fs\tkept", "ctls\tkept"},
		{"", ""},
	} {
		if got := cleanLine([]byte(c.in)); got != c.want {
			t.Errorf("cleanLine(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestStripPrompts(t *testing.T) {
	for _, c := range []struct {
		in, want string
		seen     bool
	}{
		{"testpmd> testpmd> memif_connect(): Connected.", "memif_connect(): Connected.", true},
		{"testpmd> ", "", true},
		{"testpmd>", "testpmd>", false},
		{"Bye...", "Bye...", false},
	} {
		got, seen := stripPrompts(c.in)
		if got != c.want || seen != c.seen {
			t.Errorf("stripPrompts(%q) = %q, %v; want %q, %v", c.in, got, seen, c.want, c.seen)
		}
	}
}

// FuzzOutputState: no output, however hostile, panics the parser.
func FuzzOutputState(f *testing.F) {
	for _, s := range []string{serverSession, clientRejected, serverRejected, serverIDNotFound, clientNoServer} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s outputState
		for _, l := range strings.Split(string(b), "\n") {
			s.line(cleanLine([]byte(l)))
			s.partial(cleanLine([]byte(l)))
		}
	})
}
