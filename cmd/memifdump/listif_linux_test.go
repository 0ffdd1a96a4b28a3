package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// -D lists the listening SOCK_SEQPACKET sockets, by path and by abstract
// name, and not a stream socket.
func TestListInterfaces(t *testing.T) {
	dir := t.TempDir()
	seq := filepath.Join(dir, "memif.sock")
	abstract := fmt.Sprintf("@memifdump-test-%d", os.Getpid())
	stream := filepath.Join(dir, "stream.sock")
	for _, l := range []struct{ network, addr string }{{"unixpacket", seq}, {"unixpacket", abstract}, {"unix", stream}} {
		ln, err := net.Listen(l.network, l.addr)
		require.NoError(t, err)
		defer ln.Close()
	}
	for _, flag := range []string{"-D", "--list-interfaces"} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 0, run(context.Background(), []string{flag}, &stdout, &stderr), stderr.String())
		out := stdout.String()
		require.Regexp(t, `(?m)^\d+\.`+regexp.QuoteMeta(seq)+`$`, out)
		require.Regexp(t, `(?m)^\d+\.`+regexp.QuoteMeta(abstract)+`$`, out)
		require.NotContains(t, out, stream)
		for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			require.True(t, strings.HasPrefix(line, fmt.Sprintf("%d.", i+1)), "line %q not numbered %d", line, i+1)
		}
	}
}
