package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// memifdump -D lists what could be a memif server: every listening unix
// socket of type SOCK_SEQPACKET the kernel shows this process (those of
// its network namespace, in /proc/net/unix), by path or, for an abstract
// socket, by "@name" as -socket takes it. It does not ask them whether
// they speak memif: the only way is to connect and wait for the server's
// HELLO, and a memif server takes a connection as a client's handshake:
// it sends its HELLO, holds a pending-handshake slot until the client
// gives up, and reports the aborted connection; DPDK and VPP log it, and
// memifpcap's own server may refuse real clients while its MaxPending
// slots are taken. Listing must not disturb a running server, so -D only
// lists.

// listInterfaces prints the sockets, numbered as tcpdump -D numbers
// interfaces, with " [no access]" after a path this process may not
// connect to. It returns the exit status.
func listInterfaces(stdout, stderr io.Writer) int {
	socks, err := listeningSeqpacket()
	if err != nil {
		fmt.Fprintf(stderr, "%s: -D: %v\n", name, err)
		return 1
	}
	if len(socks) == 0 {
		fmt.Fprintf(stderr, "%s: -D: no listening SOCK_SEQPACKET unix socket (no memif server) in this network namespace\n", name)
		return 1
	}
	w := bufio.NewWriter(stdout)
	for i, s := range socks {
		fmt.Fprintf(w, "%d.%s", i+1, s)
		if !strings.HasPrefix(s, "@") && !canConnect(s) {
			fmt.Fprint(w, " [no access]")
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "%s: write standard output: %v\n", name, err)
		return 1
	}
	return 0
}

// The fields of /proc/net/unix (Linux's unix_seq_show).
const (
	unixAcceptCon = 0x10000 // __SO_ACCEPTCON in Flags: listening
	unixSeqpacket = 5       // SOCK_SEQPACKET in Type
)

// parseProcNetUnix returns the names of the listening SOCK_SEQPACKET
// sockets in r, the text of /proc/net/unix, sorted and each once. An
// abstract name is shown as the kernel shows it, its leading NUL as "@".
// Sockets without a name cannot be connected to and are left out.
func parseProcNetUnix(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	var names []string
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			if strings.HasPrefix(line, "Num") {
				continue
			}
		}
		// Num RefCount Protocol Flags Type St Inode [Path]; the path may
		// hold spaces, so it is whatever follows the seventh field.
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		typ, err2 := strconv.ParseUint(f[4], 16, 16)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/proc/net/unix: unexpected line %q", line)
		}
		if flags&unixAcceptCon == 0 || typ != unixSeqpacket {
			continue
		}
		names = append(names, afterFields(line, 7))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/net/unix: %w", err)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// afterFields is what follows the first n space-separated fields of line
// and the one space after them.
func afterFields(line string, n int) string {
	i := 0
	for ; n > 0; n-- {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		for i < len(line) && line[i] != ' ' {
			i++
		}
	}
	if i < len(line) {
		i++
	}
	return line[i:]
}
