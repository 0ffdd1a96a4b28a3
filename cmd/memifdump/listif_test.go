package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseProcNetUnix(t *testing.T) {
	const text = `Num       RefCount Protocol Flags    Type St Inode Path
ffff8a0000000001: 00000002 00000000 00010000 0005 01 12345 /run/vpp/memif.sock
ffff8a0000000002: 00000002 00000000 00010000 0005 01 12346 @/run/memif.sock
ffff8a0000000003: 00000002 00000000 00010000 0001 01 12347 /run/stream.sock
ffff8a0000000004: 00000003 00000000 00000000 0005 03 12348 /run/vpp/memif.sock
ffff8a0000000005: 00000002 00000000 00010000 0005 01 12349
ffff8a0000000006: 00000002 00000000 00010000 0005 01 12345 /tmp/a dir/with  spaces.sock
ffff8a0000000007: 00000002 00000000 00010000 0005 01 12350 /run/vpp/memif.sock
`
	got, err := parseProcNetUnix(strings.NewReader(text))
	require.NoError(t, err)
	// Listening SOCK_SEQPACKET only, named, sorted, each once; the path
	// as it is, spaces and all (12345 also names an inode: no confusion).
	require.Equal(t, []string{"/run/vpp/memif.sock", "/tmp/a dir/with  spaces.sock", "@/run/memif.sock"}, got)

	_, err = parseProcNetUnix(strings.NewReader("Num RefCount Protocol Flags Type St Inode Path\nx: 1 0 zz 0005 01 1 /p\n"))
	require.ErrorContains(t, err, "unexpected line")
}
