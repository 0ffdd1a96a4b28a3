package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseFileSize reads -C as tcpdump does: a positive integer in millions of
// bytes, or in KiB, MiB or GiB with a single k, m or g suffix (either case).
func parseFileSize(s string) (int64, error) {
	num, unit := s, int64(1000000)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			num, unit = s[:n-1], 1<<10
		case 'm', 'M':
			num, unit = s[:n-1], 1<<20
		case 'g', 'G':
			num, unit = s[:n-1], 1<<30
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid file size %q: want a positive integer in millions of bytes, or with a k, m or g suffix", s)
	}
	if v > math.MaxInt64/unit {
		return 0, fmt.Errorf("invalid file size %q: too large", s)
	}
	return v * unit, nil
}

// ringDigits is tcpdump's getWflagChars: how many digits the file numbers
// of a ring of n files need (n-1 written in decimal; none for n=1).
func ringDigits(n int) int {
	c := 0
	for x := n - 1; x > 0; x /= 10 {
		c++
	}
	return c
}

// fileName is tcpdump's MakeFilename: the -w pattern, with its time fields
// expanded when -G is on, followed by the file number zero-padded to width
// digits. Number 0 with width 0 (the first file without -W) gets no
// number at all.
func fileName(pattern string, timed bool, t time.Time, n, width int) string {
	name := pattern
	if timed {
		name = strftime(pattern, t)
	}
	if n == 0 && width == 0 {
		return name
	}
	return fmt.Sprintf("%s%0*d", name, width, n)
}

// checkTimeFormat reports whether every % sequence in pattern is one
// strftime understands, and whether there is any time field at all.
func checkTimeFormat(pattern string) (hasField bool, err error) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '%' {
			continue
		}
		if i+1 == len(pattern) {
			return false, fmt.Errorf("%q ends with a lone %%", pattern)
		}
		i++
		switch c := pattern[i]; c {
		case '%':
		case 'Y', 'm', 'd', 'H', 'M', 'S', 'y', 'j', 's', 'F', 'T':
			hasField = true
		default:
			return false, fmt.Errorf("%q: time field %%%c is not supported (use %%Y %%m %%d %%H %%M %%S %%y %%j %%s %%F %%T %%%%)", pattern, c)
		}
	}
	return hasField, nil
}

// strftime expands the subset of strftime(3) fields that checkTimeFormat
// accepts, in t's location. Unknown fields are copied as they are.
func strftime(pattern string, t time.Time) string {
	if strings.IndexByte(pattern, '%') < 0 {
		return pattern
	}
	var b []byte
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			b = append(b, c)
			continue
		}
		i++
		switch pattern[i] {
		case '%':
			b = append(b, '%')
		case 'Y':
			b = t.AppendFormat(b, "2006")
		case 'm':
			b = t.AppendFormat(b, "01")
		case 'd':
			b = t.AppendFormat(b, "02")
		case 'H':
			b = t.AppendFormat(b, "15")
		case 'M':
			b = t.AppendFormat(b, "04")
		case 'S':
			b = t.AppendFormat(b, "05")
		case 'y':
			b = t.AppendFormat(b, "06")
		case 'j':
			b = fmt.Appendf(b, "%03d", t.YearDay())
		case 's':
			b = strconv.AppendInt(b, t.Unix(), 10)
		case 'F':
			b = t.AppendFormat(b, "2006-01-02")
		case 'T':
			b = t.AppendFormat(b, "15:04:05")
		default:
			b = append(b, '%', pattern[i])
		}
	}
	return string(b)
}
