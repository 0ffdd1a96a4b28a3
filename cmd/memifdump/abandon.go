package main

import (
	"time"
)

// outputGrace is how long memifdump, told to stop, lets a blocked output
// take the rest of the capture before it gives up on it.
const outputGrace = time.Second

// abandon makes a write blocked on the output fail at once: a FIFO or a
// pipe whose reader stopped reading but did not close it (Wireshark stops
// reading its extcap FIFO before it stops the extcap; a `| head` that
// sleeps). Without it a signal could not end memifdump. A regular file
// never blocks for long and has no deadline to set.
func (s *fileSink) abandon() {
	if s.live == nil {
		return
	}
	if f := s.live.Load(); f != nil {
		_ = f.SetWriteDeadline(time.Now())
	}
}
