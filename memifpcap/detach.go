package memifpcap

import "runtime/debug"

// CopyIfUnsealed makes the frames of the last ReadBatch or PollBatch safe
// to use until the next read whatever the peer does to its memory.
//
// The views a batch read returns point into the peer's memory. A peer
// that sealed that memory (every copy-mode client, and every server, see
// SealedMemory) cannot take it away before the next read, and then
// CopyIfUnsealed does nothing: it returns buf and leaves ms alone. A
// zero-copy client of VPP or DPDK cannot seal its memory, and a hostile
// one could shrink it between the read and the caller's use of the views,
// which would fault (SIGBUS). For such a batch, CopyIfUnsealed copies
// each frame of ms (the messages the read filled, ms[:n]) into buf, with
// its faults guarded as the library's own accesses are, and points the
// frame's Buffers at its copy (one slice per frame). It returns buf
// grown to hold them: pass it back to the next call, so that copies stop
// allocating once it has held the largest batch.
//
// If the peer's memory faults during the copy, the link ends with "Memory
// fault" and CopyIfUnsealed returns an error wrapping ErrLinkDown; the
// batch must then be dropped. memifdump calls it after every batch read.
func (q *RxQueue) CopyIfUnsealed(ms []Message, buf []byte) (_ []byte, err error) {
	q.mu.Lock()
	s := q.st.held
	if s == nil && len(q.st.deferred) > 0 {
		// The link went down after the read: its session's memory is
		// pinned until the next read, but still the peer's.
		s = q.st.deferred[len(q.st.deferred)-1]
	}
	q.mu.Unlock()
	if s == nil || !s.unsealed || len(ms) == 0 {
		return buf, nil
	}
	// The fault ends s, which need not be the current session: the
	// guard is endGuard's, aimed at the session the views belong to.
	defer func(old bool) {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if !isFault(r) {
				panic(r)
			}
			err = faulted(s)
		}
	}(debug.SetPanicOnFault(true))
	return copyFrames(ms, buf), nil
}

// CopyIfUnsealed is RxQueue.CopyIfUnsealed for the messages of the last
// Handle.ReadBatch or Handle.PollBatch: a batch comes from one queue, the
// one in its Message.Queue.
func (h *Handle) CopyIfUnsealed(ms []Message, buf []byte) ([]byte, error) {
	if len(ms) == 0 || ms[0].Queue < 0 || ms[0].Queue >= len(h.rxq) {
		return buf, nil
	}
	return h.rxq[ms[0].Queue].CopyIfUnsealed(ms, buf)
}

// copyFrames gathers each message's Buffers into buf, which it grows once
// to hold them all (so the copies of earlier frames stay where they are),
// and points the message at its copy.
func copyFrames(ms []Message, buf []byte) []byte {
	need := 0
	for i := range ms {
		need += msgLen(ms[i].Buffers)
	}
	if cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	buf = buf[:0]
	for i := range ms {
		m := &ms[i]
		start := len(buf)
		for _, b := range m.Buffers {
			buf = append(buf, b...)
		}
		m.Buffers = append(m.Buffers[:0], buf[start:len(buf):len(buf)])
	}
	return buf
}
