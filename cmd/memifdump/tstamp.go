package main

import (
	"strconv"
	"time"
)

// The time stamp formats of tcpdump's -t flags (its ts_print), by how many
// t's were given.
const (
	tsDefault    = iota // 15:04:05.000000, local time
	tsNone              // -t
	tsEpoch             // -tt: seconds since 1970 and the fraction
	tsDelta             // -ttt: since the previous packet
	tsDate              // -tttt: 2006-01-02 15:04:05.000000, local time
	tsSinceFirst        // -ttttt: since the first packet
)

// stamper prints each packet's time stamp as tcpdump's -t flags ask,
// remembering the packet the deltas are taken from.
type stamper struct {
	mode int
	nano bool // nine fraction digits, else six (truncated, as pcap's microseconds are)
	ref  time.Time
	have bool
}

// appendStamp appends the time stamp of a packet taken at t and the space
// after it, nothing for -t.
func (s *stamper) appendStamp(b []byte, t time.Time) []byte {
	if !s.nano {
		t = t.Truncate(time.Microsecond)
	}
	switch s.mode {
	case tsNone:
		return b
	case tsDefault:
		b = s.appendClock(b, t, "15:04:05")
	case tsDate:
		b = s.appendClock(b, t, "2006-01-02 15:04:05")
	case tsEpoch:
		if t.Unix() < 0 {
			b = append(b, beforeEpoch...)
			break
		}
		b = strconv.AppendInt(b, t.Unix(), 10)
		b = s.appendFraction(b, t.Nanosecond())
	case tsDelta, tsSinceFirst:
		if !s.have {
			s.ref, s.have = t, true
		}
		d := t.Sub(s.ref)
		// tcpdump puts a sign before every delta: "-" for a packet older
		// than its reference, else a space.
		if d < 0 {
			b, d = append(b, '-'), -d
		} else {
			b = append(b, ' ')
		}
		// A delta is printed as a time of day in UTC, as tcpdump does
		// with gmtime: hours wrap at 24.
		z := time.Unix(0, 0).UTC().Add(d)
		b = z.AppendFormat(b, "15:04:05")
		b = s.appendFraction(b, z.Nanosecond())
		if s.mode == tsDelta {
			s.ref = t
		}
	}
	return append(b, ' ')
}

// beforeEpoch is what tcpdump prints for a time it cannot show.
const beforeEpoch = "[timestamp < 1970-01-01 00:00:00 UTC]"

func (s *stamper) appendClock(b []byte, t time.Time, layout string) []byte {
	if t.Unix() < 0 {
		return append(b, beforeEpoch...)
	}
	b = t.Local().AppendFormat(b, layout)
	return s.appendFraction(b, t.Nanosecond())
}

// appendFraction appends ".uuuuuu" or ".nnnnnnnnn".
func (s *stamper) appendFraction(b []byte, ns int) []byte {
	digits, v := 9, ns
	if !s.nano {
		digits, v = 6, ns/1000
	}
	b = append(b, '.')
	start := len(b)
	b = strconv.AppendInt(b, int64(v), 10)
	pad := digits - (len(b) - start)
	if pad > 0 {
		b = append(b, "000000000"[:pad]...)
		copy(b[start+pad:], b[start:len(b)-pad])
		copy(b[start:start+pad], "000000000")
	}
	return b
}
