package control

// DISCONNECT reasons, in one place for both roles and every layer: DPDK's
// wording where DPDK has one (drivers/net/memif/memif_socket.c,
// memif_msg_receive_*; peers log these and users search for them), VPP's
// where only VPP checks (src/plugins/memif/socket.c). A reason longer than
// the message's 96-byte field is cut when sent.
const (
	// The handshake, as the server checks it.
	ReasonUnexpected       = "Unexpected message"
	ReasonVersion          = "Incompatible memif version"
	ReasonIDNotFound       = "ID not found"
	ReasonDeviceError      = "Device error"
	ReasonMissingRegion    = "Missing region fd"
	ReasonRegionIndex      = "Invalid region index"
	ReasonRegionSize       = "Invalid region size"
	ReasonMissingIntFD     = "Missing interrupt fd"
	ReasonRingIndex        = "Invalid ring index"
	ReasonRingSize         = "Invalid ring size"
	ReasonPrivateHdr       = "private headers not supported" // VPP's; DPDK does not check
	ReasonMissingRings     = "Missing rings (need at least one C2S and one S2C ring)"
	ReasonMsgSize          = "Invalid message size"
	ReasonUnknownType      = "Unknown message type"
	ReasonInvalidMessage   = "Invalid message"
	ReasonAlreadyConnected = "Already connected"
	ReasonEthernetOnly     = "Only ethernet mode supported"
	ReasonModeMismatch     = "Mode mismatch"
	ReasonSecretRequired   = "Secret required"
	ReasonIncorrectSecret  = "Incorrect secret"
	ReasonWrongRing        = "Wrong ring"
	// The client's, when it gives up on the server's HELLO.
	ReasonSetupFailed = "Failed to set up shared memory"
	// After the handshake: why a side ends a live link.
	ReasonDeviceClosed  = "Device closed"
	ReasonCorruptRing   = "Corrupt ring"
	ReasonBadDescriptor = "Bad descriptor"
	// A server whose client shrank unsealed memory under its mapping.
	ReasonMemoryFault = "Memory fault: region shrunk under the mapping"
)
