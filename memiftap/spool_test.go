package memiftap

import (
	"bytes"
	"testing"
)

// TestSpool drives the byte ring through wrap-arounds with records of
// many sizes and checks that the writer's runs give back every record,
// whole, in order, and that a full ring refuses instead of overwriting.
func TestSpool(t *testing.T) {
	sp := newSpool(100)
	var want, got bytes.Buffer
	next := byte(0)
	put := func(n int) bool {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		b := sp.reserve(n)
		if b == nil {
			return false
		}
		for i := range b {
			b[i] = next
			next++
		}
		want.Write(b)
		return true
	}
	drain := func(max int) {
		for max > 0 {
			r := sp.run()
			if len(r) == 0 {
				return
			}
			n := min(len(r), max)
			// The writer takes whole runs; a partial take is what a
			// short write would be.
			got.Write(r[:n])
			sp.advance(n)
			max -= n
		}
	}
	sizes := []int{7, 30, 1, 64, 13, 50, 2, 99, 33, 40, 41, 100, 3}
	refused := 0
	for round := range 200 {
		n := sizes[round%len(sizes)]
		if !put(n) {
			refused++
			drain(37 + round%50)
			continue
		}
		if round%3 == 0 {
			drain(20)
		}
	}
	drain(1 << 30)
	if refused == 0 {
		t.Fatal("the ring never filled up: the test does not test wrapping")
	}
	if !bytes.Equal(want.Bytes(), got.Bytes()) {
		t.Fatalf("the runs gave back %d bytes that differ from the %d put", got.Len(), want.Len())
	}
	if !put(100) {
		t.Fatal("an empty ring refused a record of its whole size")
	}
}
