//go:build !linux

package main

import (
	"fmt"
	"runtime"
)

func setCredential(*credential) error {
	return fmt.Errorf("dropping privileges is not implemented on %s", runtime.GOOS)
}
