package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The commands under test, built once by TestMain.
var (
	memifdump   string
	memifinject string
	pcapcmp     string
)

// buildTimeout bounds the build: a cold cache compiles gopacket and x/sys.
const buildTimeout = 5 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "memifpcap-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := build(dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	memifdump = filepath.Join(dir, "memifdump")
	memifinject = filepath.Join(dir, "memifinject")
	pcapcmp = filepath.Join(dir, "pcapcmp")
	return m.Run()
}

// build compiles the two tools and pcapcmp into dir as a user would, with
// cgo off: the project promises a pure-Go build.
func build(dir string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, serr := os.Stat(gobin); serr != nil {
			return fmt.Errorf("no go command to build the tools: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", dir+string(filepath.Separator),
		"./cmd/memifdump", "./cmd/memifinject", "./e2e/cmd/pcapcmp")
	cmd.Dir = ".." // the module root: go test runs in the package directory
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build the tools: %w\n%s", err, out.Bytes())
	}
	return nil
}
