package testpmd

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// procNetUnix lists this network namespace's unix sockets. It is how a
// server's readiness is checked without connecting to it: a probe connection
// would be accepted by DPDK as a memif client and then torn down.
const procNetUnix = "/proc/net/unix"

// soAcceptCon is __SO_ACCEPTCON in the Flags column: the socket listens.
const soAcceptCon = 0x10000

// listening reports whether a unix socket named name listens; name is a
// path, or "@name" for an abstract socket, as /proc/net/unix shows them.
func listening(name string) (bool, error) {
	f, err := os.Open(procNetUnix)
	if err != nil {
		return false, err
	}
	defer f.Close()
	ok, err := listeningIn(f, name)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", procNetUnix, err)
	}
	return ok, nil
}

// listeningIn scans /proc/net/unix content. Its rows are
// "Num RefCount Protocol Flags Type St Inode Path", Flags in hex; sockets
// without a name have no Path.
func listeningIn(r io.Reader, name string) (bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	first := true
	for sc.Scan() {
		if first {
			first = false // the header
			continue
		}
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || strings.Join(fs[7:], " ") != name {
			continue
		}
		flags, err := strconv.ParseUint(fs[3], 16, 32)
		if err == nil && flags&soAcceptCon != 0 {
			return true, nil
		}
	}
	return false, sc.Err()
}
