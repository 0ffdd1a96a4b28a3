package main

// DNS in tcpdump's line, without -v: id and flags, the counts, the
// questions of a query, the answers of a response, the length.

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/google/gopacket/layers"
)

// dnsRcodes are tcpdump's names of the response codes it prints.
var dnsRcodes = [...]string{"", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused", " YXDomain",
	" YXRRSet", " NXRRSet", " NotAuth", " NotZone"}

// dnsOps are tcpdump's names of the opcodes ("" for a query).
var dnsOps = [...]string{"", " inv_q", " stat", " op3", " notify", " update", " op6", " op7",
	" op8", " updateA", " updateD", " updateDA", " updateM", " updateMA", " zoneInit", " zoneRef"}

// appendDNS is tcpdump's DNS without -v: the id and flags, the counts,
// the questions of a query and the answers of a response, the length.
func appendDNS(b []byte, d *layers.DNS, length int) []byte {
	b = appendDNSHead(b, d)
	if d.QR {
		b = fmt.Appendf(b, " %d/%d/%d", d.ANCount, d.NSCount, d.ARCount)
		for i, rr := range d.Answers {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendDNSRecord(b, &rr)
		}
	} else {
		for _, q := range d.Questions {
			b = append(b, ' ')
			b = appendDNSType(b, q.Type)
			b = append(b, "? "...)
			b = appendDNSName(b, q.Name)
		}
	}
	b = append(b, " ("...)
	b = strconv.AppendInt(b, int64(length), 10)
	return append(b, ')')
}

// appendDNSHead is what tcpdump prints of a DNS message before its
// questions: the id and flags, and for a query the counts.
func appendDNSHead(b []byte, d *layers.DNS) []byte {
	b = strconv.AppendUint(b, uint64(d.ID), 10)
	b = append(b, dnsOps[d.OpCode&0xf]...)
	if d.QR {
		if int(d.ResponseCode) < len(dnsRcodes) {
			b = append(b, dnsRcodes[d.ResponseCode]...)
		} else {
			b = append(b, " Resp"...)
			b = strconv.AppendUint(b, uint64(d.ResponseCode), 10)
		}
		if d.AA {
			b = append(b, '*')
		}
		if !d.RA {
			b = append(b, '-')
		}
		if d.TC {
			b = append(b, '|')
		}
		if d.Z&2 != 0 {
			b = append(b, '$')
		}
		if d.QDCount != 1 {
			b = fmt.Appendf(b, " [%dq]", d.QDCount)
		}
		return b
	}
	if d.RD {
		b = append(b, '+')
	}
	if d.Z&1 != 0 {
		b = append(b, '%')
	}
	for _, c := range []struct {
		n    uint16
		name string
	}{{d.ANCount, "a"}, {d.NSCount, "n"}, {d.ARCount, "au"}} {
		if c.n > 0 {
			b = fmt.Appendf(b, " [%d%s]", c.n, c.name)
		}
	}
	if d.QDCount != 1 {
		b = fmt.Appendf(b, " [%dq]", d.QDCount)
	}
	return b
}

// dnsHeader reads the 12-byte header of a DNS message gopacket could not
// decode whole (the snapshot length cut it).
func dnsHeader(p []byte) *layers.DNS {
	f := binary.BigEndian.Uint16(p[2:])
	return &layers.DNS{
		ID: binary.BigEndian.Uint16(p), QR: f&0x8000 != 0, OpCode: layers.DNSOpCode(f >> 11 & 0xf),
		AA: f&0x0400 != 0, TC: f&0x0200 != 0, RD: f&0x0100 != 0, RA: f&0x0080 != 0, Z: uint8(f>>4) & 7,
		ResponseCode: layers.DNSResponseCode(f & 0xf),
		QDCount:      binary.BigEndian.Uint16(p[4:]), ANCount: binary.BigEndian.Uint16(p[6:]),
		NSCount: binary.BigEndian.Uint16(p[8:]), ARCount: binary.BigEndian.Uint16(p[10:]),
	}
}

func appendDNSType(b []byte, t layers.DNSType) []byte {
	switch t {
	case layers.DNSTypeA, layers.DNSTypeAAAA, layers.DNSTypeTXT, layers.DNSTypeCNAME, layers.DNSTypeMX,
		layers.DNSTypeNS, layers.DNSTypePTR, layers.DNSTypeSOA, layers.DNSTypeSRV, layers.DNSTypeOPT:
		return append(b, t.String()...)
	}
	b = append(b, "Type"...)
	return strconv.AppendUint(b, uint64(t), 10)
}

func appendDNSName(b, name []byte) []byte {
	b = append(b, name...)
	return append(b, '.')
}

func appendDNSRecord(b []byte, rr *layers.DNSResourceRecord) []byte {
	b = append(b, ' ')
	b = appendDNSType(b, rr.Type)
	switch rr.Type {
	case layers.DNSTypeA, layers.DNSTypeAAAA:
		b = append(b, ' ')
		return appendIP(b, rr.IP)
	case layers.DNSTypeCNAME:
		b = append(b, ' ')
		return appendDNSName(b, rr.CNAME)
	case layers.DNSTypeNS:
		b = append(b, ' ')
		return appendDNSName(b, rr.NS)
	case layers.DNSTypePTR:
		b = append(b, ' ')
		return appendDNSName(b, rr.PTR)
	case layers.DNSTypeTXT:
		for _, t := range rr.TXTs {
			b = append(b, ' ', '"')
			b = append(b, t...)
			b = append(b, '"')
		}
	}
	return b
}
