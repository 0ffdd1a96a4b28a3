//go:build !linux

package control

import "errors"

// errNotSupported: memif's control channel is a Linux SOCK_SEQPACKET
// socket (abstract names, SO_PASSCRED), and its memory Linux memfds.
var errNotSupported = errors.New("memif: not supported on this system (memif needs Linux)")

var credSpace = 0

func probeSocket(string) error { return errNotSupported }

func (l *Listener) setPassCred() error { return errNotSupported }

func inNetns(path string, f func() error) error {
	if path != "" {
		return errNotSupported
	}
	return f()
}
