package main

import (
	"os"
	"syscall"
)

func listeningSeqpacket() ([]string, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseProcNetUnix(f)
}

// canConnect reports whether this process may connect to the socket at
// path: connect(2) needs write permission on the socket file.
func canConnect(path string) bool {
	const wOK = 2
	return syscall.Access(path, wOK) == nil
}
