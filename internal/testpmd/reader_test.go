//go:build linux

package testpmd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// lineLog records each Write.
type lineLog struct{ writes []string }

func (l *lineLog) Write(b []byte) (int, error) {
	l.writes = append(l.writes, string(b))
	return len(b), nil
}

// TestReaderChunks feeds the reader goroutine output split at awkward
// places: inside a line, inside the prompt, and a line longer than
// maxLineLen.
func TestReaderChunks(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	log := &lineLog{}
	p := &Peer{
		master:     r,
		changed:    make(chan struct{}),
		readerDone: make(chan struct{}),
		cfg:        settings{Config: Config{Log: log}},
	}
	go p.read()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	step := func(chunk string, cond func() bool) {
		t.Helper()
		if _, err := w.WriteString(chunk); err != nil {
			t.Fatal(err)
		}
		if err := p.until(ctx, false, func() (bool, error) { return cond(), nil }); err != nil {
			t.Fatalf("after %q: %v", chunk, err)
		}
	}
	step("EAL: one\r\nmemif_connect(): Conn", func() bool { return p.outTail == "memif_connect(): Conn" })
	if p.st.linkUp {
		t.Fatal("link up from half a line")
	}
	step("ected.\ntestp", func() bool { return p.st.linkUp && p.outTail == "testp" })
	if p.st.ready {
		t.Fatal("ready from half a prompt")
	}
	step("md> ", func() bool { return p.st.ready })
	long := strings.Repeat("x", maxLineLen+10)
	step("\x1b[2J"+long+"\n", func() bool { return p.outTail == "" && strings.Contains(p.out.String(), "xxxxxxxxxx\n") })
	w.Close()
	<-p.readerDone

	// split after maxLineLen raw bytes: the prompt, the escape and the start
	cut := maxLineLen - len("testpmd> \x1b[2J")
	want := "EAL: one\nmemif_connect(): Connected.\ntestpmd> " + long[:cut] + "\n" + long[cut:] + "\n"
	if got := p.Output(); got != want {
		t.Errorf("Output() = %q...(%d bytes), want %q...(%d bytes)", got[:min(60, len(got))], len(got), want[:60], len(want))
	}
	if n := len(log.writes); n != 4 || log.writes[0] != "EAL: one\n" || log.writes[1] != "memif_connect(): Connected.\n" {
		t.Errorf("Log got %d writes, first %q; want 4, one per line", n, log.writes[:min(2, n)])
	}
}
