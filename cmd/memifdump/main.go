package main

import (
	"os"

	"github.com/memifpcap/memifpcap/internal/memifflag"
)

func main() {
	ctx, release := memifflag.Signals()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	release()
	os.Exit(code)
}
