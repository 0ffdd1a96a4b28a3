package main

// The packet dumps of tcpdump's -x, -xx, -X, -XX and -A, laid out byte for
// byte as tcpdump 4.99 prints them (print-ascii.c): each line starts with
// "\n\t", then the offset, then up to eight groups of four hex digits;
// with -X the groups are padded to 40 columns and followed by two spaces
// and the bytes as ASCII ('.' for anything but a printable, non-space
// character). -A is the bytes themselves after one newline, '.' for the
// unprintable, tabs, spaces and newlines kept, and a carriage return
// dropped before a newline. The caller ends the whole with "\n".

const hexDigits = "0123456789abcdef"

// appendOffset appends "\n\t0x%04x: ": four digits at least, more when
// the offset needs them, as printf's %04x does.
func appendOffset(b []byte, off int) []byte {
	b = append(b, "\n\t0x"...)
	n := 4
	for off>>(4*n) != 0 {
		n++
	}
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[(off>>(4*i))&0xf])
	}
	return append(b, ':', ' ')
}

// appendHex is tcpdump -x: sixteen bytes a line, in groups of two.
func appendHex(b []byte, data []byte) []byte {
	for off := 0; off < len(data); off += 16 {
		b = appendOffset(b, off)
		b = appendHexGroups(b, data[off:min(off+16, len(data))])
	}
	return b
}

// appendHexGroups appends " xxxx" for each pair of bytes, " xx" for an
// odd last one.
func appendHexGroups(b []byte, line []byte) []byte {
	for i, c := range line {
		if i%2 == 0 {
			b = append(b, ' ')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendHexASCII is tcpdump -X: appendHex with the hex padded to 40
// columns, two spaces, and the bytes as ASCII.
func appendHexASCII(b []byte, data []byte) []byte {
	for off := 0; off < len(data); off += 16 {
		line := data[off:min(off+16, len(data))]
		b = appendOffset(b, off)
		start := len(b)
		b = appendHexGroups(b, line)
		for len(b)-start < 40 {
			b = append(b, ' ')
		}
		b = append(b, ' ', ' ')
		for _, c := range line {
			if !isGraph(c) {
				c = '.'
			}
			b = append(b, c)
		}
	}
	return b
}

// appendASCII is tcpdump -A.
func appendASCII(b []byte, data []byte) []byte {
	b = append(b, '\n')
	for i, c := range data {
		switch {
		case c == '\r':
			// tcpdump drops a CR that ends a line (or the data, but for
			// the very last byte), and shows any other as '.'.
			if rest := len(data) - i - 1; rest > 1 && data[i+1] != '\n' {
				b = append(b, '.')
			}
		case isGraph(c) || c == '\t' || c == ' ' || c == '\n':
			b = append(b, c)
		default:
			b = append(b, '.')
		}
	}
	return b
}

// isGraph is C's isgraph in the C locale: printable and not a space.
func isGraph(c byte) bool { return c > ' ' && c < 0x7f }
