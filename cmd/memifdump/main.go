package main

import (
	"os"

	"github.com/memifpcap/memifpcap/internal/memifflag"
)

func main() {
	ctx, release := memifflag.Signals()
	run := run
	if isExtcap(os.Args[1:]) {
		run = runExtcap // Wireshark's call
	}
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	release()
	os.Exit(code)
}
