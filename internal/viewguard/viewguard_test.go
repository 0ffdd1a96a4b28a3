package viewguard

import (
	"testing"
	"time"
)

// End waits for a batch in use, then ends; batches read after it are
// dropped.
func TestEndWaitsForBatchInUse(t *testing.T) {
	var g Guard
	if !g.Enter() {
		t.Fatal("Enter refused before End")
	}
	ended := make(chan struct{})
	go g.End(func() { close(ended) })
	select {
	case <-ended:
		t.Fatal("End ended the link while a batch was in use")
	case <-time.After(50 * time.Millisecond):
	}
	g.Leave()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("End did not end the link 10 s after the batch was left")
	}
	if g.Enter() {
		t.Fatal("Enter accepted a batch after End")
	}
}

// Readers share the guard: two batches in use at once, End waits for both.
func TestReadersShare(t *testing.T) {
	var g Guard
	if !g.Enter() || !g.Enter() {
		t.Fatal("Enter refused a second reader")
	}
	ended := make(chan struct{})
	go g.End(func() { close(ended) })
	g.Leave()
	select {
	case <-ended:
		t.Fatal("End ended the link while a second batch was in use")
	case <-time.After(50 * time.Millisecond):
	}
	g.Leave()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("End did not end the link 10 s after both batches were left")
	}
}
