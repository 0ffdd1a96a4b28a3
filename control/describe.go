package control

import (
	"fmt"
	"strconv"
)

// Describe returns m as one line a user can read: its type and the fields
// that decide whether a link comes up (versions, ids, ring counts and
// sizes, region sizes, the DISCONNECT reason). A secret is shown only as
// set or not.
func Describe(m Message) string {
	switch m := m.(type) {
	case Hello:
		return fmt.Sprintf("HELLO name %q versions %s-%s max region %d, max rings c2s %d s2c %d, max ring size %d",
			m.Name, version(m.MinVersion), version(m.MaxVersion), m.MaxRegion, m.MaxC2SRing, m.MaxS2CRing, 1<<m.MaxLog2RingSize)
	case Init:
		secret := "no secret"
		if m.Secret != "" {
			secret = "a secret"
		}
		return fmt.Sprintf("INIT version %s id %d mode %s name %q, %s", version(m.Version), m.ID, m.Mode, m.Name, secret)
	case AddRegion:
		return fmt.Sprintf("ADD_REGION %d size %d", m.Index, m.Size)
	case AddRing:
		dir := "s2c"
		if m.Flags&RingFlagC2S != 0 {
			dir = "c2s"
		}
		return fmt.Sprintf("ADD_RING %s %d region %d offset %d size %d", dir, m.Index, m.Region, m.Offset, 1<<m.Log2RingSize)
	case Connect:
		return fmt.Sprintf("CONNECT interface %q", m.IfName)
	case Connected:
		return fmt.Sprintf("CONNECTED interface %q", m.IfName)
	case Disconnect:
		return fmt.Sprintf("DISCONNECT %q", m.Reason)
	case nil:
		return "nothing"
	}
	return m.Type().String()
}

// version spells a protocol version as memif does, major.minor.
func version(v uint16) string {
	return strconv.Itoa(int(v>>8)) + "." + strconv.Itoa(int(v&0xff))
}
