package main

// TCP in tcpdump -S's line: flags, seq, ack, win, urg, options, length,
// and the first line of HTTP on ports 80 and 8080.

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/google/gopacket/layers"
)

// tcpFlags are tcpdump's letters, in its order.
var tcpFlags = [...]struct {
	bit  uint8
	name byte
}{{0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'}, {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}}

func tcpFlagBits(t *layers.TCP) uint8 {
	var f uint8
	for i, on := range [...]bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if on {
			f |= 1 << i
		}
	}
	return f
}

// appendTCP is tcpdump -S's TCP: Flags [S.], seq, ack, win, urg,
// options, length, and the first line of HTTP on ports 80 and 8080.
func (s *textSink) appendTCP(b []byte, t *layers.TCP, ipLen int) []byte {
	length := ipLen - int(t.DataOffset)*4
	if s.f.quiet {
		b = append(b, "tcp "...)
		return strconv.AppendInt(b, int64(length), 10)
	}
	b = appendTCPFixed(b, t, length, s.f.verbose)
	if len(t.Options) > 0 {
		b = append(b, ", options ["...)
		for i, o := range t.Options {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTCPOption(b, o)
		}
		b = append(b, ']')
	}
	b = append(b, ", length "...)
	b = strconv.AppendInt(b, int64(length), 10)
	if length > 0 && (t.SrcPort == 80 || t.DstPort == 80 || t.SrcPort == 8080 || t.DstPort == 8080) {
		b = appendHTTP(b, t.Payload, length)
	}
	return b
}

// appendCutTCP is the line of a TCP header whose options the snapshot
// length cut (p holds the 20 fixed bytes): the fixed part, then the
// options as far as they go, as tcpdump prints them.
func (s *textSink) appendCutTCP(b, p []byte, ipLen int) []byte {
	be := binary.BigEndian
	t := &layers.TCP{Seq: be.Uint32(p[4:]), Ack: be.Uint32(p[8:]), DataOffset: p[12] >> 4, Window: be.Uint16(p[14:]), Urgent: be.Uint16(p[18:]),
		FIN: p[13]&0x01 != 0, SYN: p[13]&0x02 != 0, RST: p[13]&0x04 != 0, PSH: p[13]&0x08 != 0,
		ACK: p[13]&0x10 != 0, URG: p[13]&0x20 != 0, ECE: p[13]&0x40 != 0, CWR: p[13]&0x80 != 0}
	length := ipLen - int(t.DataOffset)*4
	if s.f.quiet {
		b = append(b, "tcp "...)
		return strconv.AppendInt(b, int64(length), 10)
	}
	b = appendTCPFixed(b, t, length, s.f.verbose)
	b = append(b, ", options ["...)
	opts := p[20:]
	for i := 0; ; {
		if i > 0 {
			b = append(b, ',')
		}
		if i >= len(opts) || (opts[i] > 1 && i+1 >= len(opts)) {
			return append(b, " [|tcp]"...)
		}
		o := layers.TCPOption{OptionType: layers.TCPOptionKind(opts[i]), OptionLength: 1}
		if opts[i] > 1 {
			o.OptionLength = opts[i+1]
		}
		n := int(o.OptionLength)
		if n < 1 || (opts[i] > 1 && n < 2) {
			return append(b, " [|tcp]"...) // a length that cannot be
		}
		if i+n > len(opts) {
			// tcpdump has printed the option's name when its data
			// runs out.
			b = append(b, tcpOptionName(o.OptionType)...)
			return append(b, " [|tcp]>"...)
		}
		if n >= 2 {
			o.OptionData = opts[i+2 : i+n]
		}
		b = appendTCPOption(b, o)
		i += n
	}
}

// appendTCPFixed appends what tcpdump prints of the fixed TCP header:
// Flags [S.], seq, ack, win, urg.
func appendTCPFixed(b []byte, t *layers.TCP, length, verbose int) []byte {
	flags := tcpFlagBits(t)
	b = append(b, "Flags ["...)
	if flags == 0 {
		b = append(b, "none"...)
	}
	for _, f := range tcpFlags {
		if flags&f.bit != 0 {
			b = append(b, f.name)
		}
	}
	b = append(b, ']')
	if length > 0 || t.SYN || t.FIN || t.RST || verbose > 1 {
		b = append(b, ", seq "...)
		b = strconv.AppendUint(b, uint64(t.Seq), 10)
		if length > 0 {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(t.Seq+uint32(length)), 10)
		}
	}
	if t.ACK {
		b = append(b, ", ack "...)
		b = strconv.AppendUint(b, uint64(t.Ack), 10)
	}
	b = append(b, ", win "...)
	b = strconv.AppendUint(b, uint64(t.Window), 10)
	if t.URG {
		b = append(b, ", urg "...)
		b = strconv.AppendUint(b, uint64(t.Urgent), 10)
	}
	return b
}

// tcpOptionName is tcpdump's name of a TCP option kind.
func tcpOptionName(k layers.TCPOptionKind) string {
	switch k {
	case layers.TCPOptionKindEndList:
		return "eol"
	case layers.TCPOptionKindNop:
		return "nop"
	case layers.TCPOptionKindMSS:
		return "mss"
	case layers.TCPOptionKindWindowScale:
		return "wscale"
	case layers.TCPOptionKindSACKPermitted:
		return "sackOK"
	case layers.TCPOptionKindSACK:
		return "sack"
	case layers.TCPOptionKindTimestamps:
		return "TS"
	}
	return "unknown-" + strconv.Itoa(int(k))
}

func appendTCPOption(b []byte, o layers.TCPOption) []byte {
	d := o.OptionData
	switch {
	case o.OptionType == layers.TCPOptionKindEndList:
		return append(b, "eol"...)
	case o.OptionType == layers.TCPOptionKindNop:
		return append(b, "nop"...)
	case o.OptionType == layers.TCPOptionKindMSS && len(d) == 2:
		b = append(b, "mss "...)
		return strconv.AppendUint(b, uint64(binary.BigEndian.Uint16(d)), 10)
	case o.OptionType == layers.TCPOptionKindWindowScale && len(d) == 1:
		b = append(b, "wscale "...)
		return strconv.AppendUint(b, uint64(d[0]), 10)
	case o.OptionType == layers.TCPOptionKindSACKPermitted:
		return append(b, "sackOK"...)
	case o.OptionType == layers.TCPOptionKindSACK && len(d)%8 == 0:
		b = append(b, "sack "...)
		b = strconv.AppendInt(b, int64(len(d)/8), 10)
		b = append(b, ' ')
		for i := 0; i < len(d); i += 8 {
			b = append(b, '{')
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[i:])), 10)
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[i+4:])), 10)
			b = append(b, '}')
		}
		return b
	case o.OptionType == layers.TCPOptionKindTimestamps && len(d) == 8:
		b = append(b, "TS val "...)
		b = strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d)), 10)
		b = append(b, " ecr "...)
		return strconv.AppendUint(b, uint64(binary.BigEndian.Uint32(d[4:])), 10)
	}
	b = append(b, "unknown-"...)
	return strconv.AppendUint(b, uint64(o.OptionType), 10)
}

// httpMethods start the request lines tcpdump recognises.
var httpMethods = []string{"GET", "PUT", "COPY", "HEAD", "LOCK", "MOVE", "POLL", "POST", "BCOPY", "BMOVE",
	"MKCOL", "TRACE", "LABEL", "MERGE", "DELETE", "SEARCH", "UNLOCK", "REPORT", "UPDATE", "NOTIFY",
	"BDELETE", "CONNECT", "OPTIONS", "CHECKIN", "PROPFIND", "CHECKOUT", "CCM_POST", "SUBSCRIBE",
	"PROPPATCH", "BPROPFIND", "BPROPPATCH", "UNCHECKOUT", "MKACTIVITY", "MKWORKSPACE",
	"UNSUBSCRIBE", "RPC_CONNECT", "VERSION-CONTROL", "BASELINE-CONTROL"}

// appendHTTP is tcpdump's ": HTTP", with ": " and the first line when
// the segment starts with a request or status line ending in CRLF, and
// " [|http]" when the segment is cut before the line's end.
func appendHTTP(b, payload []byte, length int) []byte {
	b = append(b, ": HTTP"...)
	if !isHTTPLine(payload) {
		return b
	}
	end := -1
	for i := 0; i+1 < len(payload) && i < 300; i++ {
		if payload[i] == '\r' && payload[i+1] == '\n' {
			end = i
			break
		}
		if payload[i] < ' ' || payload[i] > '~' {
			return b
		}
	}
	if end < 0 {
		if len(payload) < length {
			// The line goes on past the snapshot length.
			b = append(b, " [|http]"...)
		}
		return b
	}
	b = append(b, ": "...)
	return append(b, payload[:end]...)
}

// isHTTPLine reports whether p starts as a request line (a method and a
// space) or a status line does.
func isHTTPLine(p []byte) bool {
	if bytes.HasPrefix(p, []byte("HTTP/")) {
		// tcpdump reads the first word to its space.
		return bytes.IndexByte(p, ' ') > 0
	}
	for _, m := range httpMethods {
		if len(p) > len(m) && p[len(m)] == ' ' && string(p[:len(m)]) == m {
			return true
		}
	}
	return false
}
