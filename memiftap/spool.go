package memiftap

import "sync"

// spool is the byte ring between the forwarders, which encode records into
// it, and the capture's writer goroutine, which writes them to the file:
// forwarding never waits for the disk. Records are contiguous (a record
// that does not fit before the end of the ring starts again at 0), so a
// forwarder encodes a block in place and the writer hands whole runs of
// blocks to the file. Several forwarders reserve and fill under mu; the
// writer only holds mu to find and to free a run, never while it writes.
type spool struct {
	mu  sync.Mutex
	buf []byte
	// The records are [r, w) when !wrapped, else [r, end) then [0, w).
	r, w, end int
	wrapped   bool

	ready chan struct{} // a record was added (capacity 1)
	freed chan struct{} // room was made (capacity 1), for lossless producers
}

func newSpool(size int) *spool {
	return &spool{buf: make([]byte, size), ready: make(chan struct{}, 1), freed: make(chan struct{}, 1)}
}

// reserve returns n contiguous free bytes, or nil when the ring has no
// room for them now. Called with mu held; the bytes belong to the caller
// until it unlocks, and the writer sees them after that.
func (s *spool) reserve(n int) []byte {
	if !s.wrapped {
		if s.r == s.w { // empty: start over at 0, the most room in one piece
			s.r, s.w = 0, 0
		}
		if len(s.buf)-s.w >= n {
			b := s.buf[s.w : s.w+n]
			s.w += n
			return b
		}
		if s.r >= n && s.r != s.w {
			s.end, s.wrapped = s.w, true
			s.w = n
			return s.buf[:n]
		}
		return nil
	}
	if s.r-s.w >= n {
		b := s.buf[s.w : s.w+n]
		s.w += n
		return b
	}
	return nil
}

// run returns the oldest run of whole records, empty when there is none.
// The writer owns it until advance.
func (s *spool) run() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wrapped {
		if s.r == s.end {
			s.r, s.wrapped = 0, false
			return s.buf[s.r:s.w]
		}
		return s.buf[s.r:s.end]
	}
	return s.buf[s.r:s.w]
}

// advance frees the n bytes of the run the writer wrote.
func (s *spool) advance(n int) {
	s.mu.Lock()
	s.r += n
	if s.wrapped && s.r == s.end {
		s.r, s.wrapped = 0, false
	}
	s.mu.Unlock()
	signal(s.freed)
}

// signal wakes the waiter on c, if any, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
