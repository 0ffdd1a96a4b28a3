package memifpcap

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/memifpcap/memifpcap/control"
	"github.com/memifpcap/memifpcap/ring"
)

// A process has one listener per socket address, shared by every server
// Handle on it; INIT's id picks the Handle (DPDK, VPP and libmemif do the
// same).
var servers = struct {
	sync.Mutex
	m map[string]*sharedServer
}{m: map[string]*sharedServer{}}

type sharedServer struct {
	key  string
	srv  *control.Server
	refs int
	// watchers are the Handles on this socket that asked to be told of
	// its refusals (Config.OnRefuse) or its messages (OnControl),
	// guarded by servers.
	watchers map[*Handle]struct{}
}

// tell calls the hook that pick chooses of every watching Handle with
// line. A socket's connections are not any one Handle's until INIT
// names the id, so every Handle on the socket is told.
func (ss *sharedServer) tell(pick func(*config) func(string), line string) {
	servers.Lock()
	hooks := make([]func(string), 0, len(ss.watchers))
	for h := range ss.watchers {
		if f := pick(h.cfg); f != nil {
			hooks = append(hooks, f)
		}
	}
	servers.Unlock()
	for _, f := range hooks {
		f(line)
	}
}

// refused tells every Handle on the socket that asked (Config.OnRefuse)
// about a handshake the server refused or that failed.
func (ss *sharedServer) refused(err error) {
	ss.tell(func(c *config) func(string) { return c.OnRefuse }, strings.TrimPrefix(err.Error(), "memif: "))
}

// traced tells every Handle on the socket that asked (Config.OnControl)
// about a control message.
func (ss *sharedServer) traced(sent bool, m control.Message, withFD bool) {
	ss.tell(func(c *config) func(string) { return c.OnControl }, controlLine(sent, m, withFD))
}

// acquireServer returns the shared server of c's socket, made (listening,
// not yet accepting: fresh) if this is its first Handle.
func acquireServer(c *config) (ss *sharedServer, fresh bool, err error) {
	servers.Lock()
	defer servers.Unlock()
	key := c.addr.String()
	if ss := servers.m[key]; ss != nil {
		ss.refs++
		return ss, false, nil
	}
	l, err := c.listenConfig().Listen(c.addr)
	if err != nil {
		return nil, false, err
	}
	ss = &sharedServer{key: key, refs: 1, watchers: map[*Handle]struct{}{}}
	ss.srv = control.NewServer(l, control.ServerConfig{
		Name:        c.Name,
		StepTimeout: c.HandshakeTimeout,
		OnError:     ss.refused,
		Trace:       ss.traced,
	})
	servers.m[key] = ss
	return ss, true, nil
}

// controlLine is the line Config.OnControl is told for a message.
func controlLine(sent bool, m control.Message, withFD bool) string {
	dir := "received "
	if sent {
		dir = "sent "
	}
	line := dir + control.Describe(m)
	if withFD {
		line += " (with its fd)"
	}
	return line
}

// listenConfig is what Config says of the socket file.
func (c *config) listenConfig() control.ListenConfig {
	lc := control.ListenConfig{UID: -1, GID: -1, Perm: c.SocketPerm}
	if c.SocketOwner != 0 {
		lc.UID = c.SocketOwner
	}
	if c.SocketGroup != 0 {
		lc.GID = c.SocketGroup
	}
	return lc
}

// releaseServer drops h's hold on ss, closing it with the last.
func releaseServer(ss *sharedServer, h *Handle) {
	servers.Lock()
	delete(ss.watchers, h)
	ss.refs--
	last := ss.refs == 0
	if last {
		delete(servers.m, ss.key)
	}
	servers.Unlock()
	if last {
		ss.srv.Close()
	}
}

func (h *Handle) openServer() error {
	ss, fresh, err := acquireServer(h.cfg)
	if err != nil {
		return err
	}
	// The refusal hook is in place before the id can be reached, so that
	// the first client's refusal is told too.
	if h.cfg.OnRefuse != nil || h.cfg.OnControl != nil {
		servers.Lock()
		ss.watchers[h] = struct{}{}
		servers.Unlock()
	}
	if err := ss.srv.Register(h.cfg.ID, (*serverIface)(h)); err != nil {
		releaseServer(ss, h)
		return fmt.Errorf("memif: server %s id %d: %w", h.cfg.addr, h.cfg.ID, err)
	}
	if fresh {
		// Accepting only now: a client connecting while the socket was
		// being set up is answered, with this id served, instead of
		// refused with "ID not found".
		ss.srv.Start()
	}
	h.stateMu.Lock()
	h.server = ss
	h.stateMu.Unlock()
	return nil
}

// serverIface is a server Handle as the control.Server sees it.
type serverIface Handle

func reject(reason string) error { return &control.RejectError{Reason: reason} }

// Admit checks an INIT addressed to this Handle, with DPDK's reasons.
func (i *serverIface) Admit(init control.Init) (control.Limits, error) {
	h := (*Handle)(i)
	switch {
	case h.closed.Load():
		return control.Limits{}, reject(control.ReasonIDNotFound)
	case h.sess.Load() != nil:
		return control.Limits{}, reject(control.ReasonAlreadyConnected)
	case h.refusing() != "":
		return control.Limits{}, reject(h.refusing())
	case Mode(init.Mode) != h.cfg.Mode && h.cfg.Mode == ModeEthernet:
		return control.Limits{}, reject(control.ReasonEthernetOnly)
	case Mode(init.Mode) != h.cfg.Mode:
		return control.Limits{}, reject(control.ReasonModeMismatch)
	case h.cfg.Secret != "" && init.Secret == "":
		return control.Limits{}, reject(control.ReasonSecretRequired)
	case h.cfg.Secret != "" && init.Secret != h.cfg.Secret:
		return control.Limits{}, reject(control.ReasonIncorrectSecret)
	}
	// Our queue counts: a client offering more rings is refused "Invalid
	// ring index", as DPDK does. Regions: any layout, up to memif's 256.
	return control.Limits{C2SRings: h.cfg.RxQueues, S2CRings: h.cfg.TxQueues, Regions: 256}, nil
}

// Connect maps what the client offered and brings the link up. The
// client's layout is not assumed: each ring is where ADD_RING says and each
// descriptor is checked against the regions it names.
func (i *serverIface) Connect(conn *control.Conn, init control.Init, offer *control.Offer, peerIfName string) (ifName string, err error) {
	h := (*Handle)(i)
	// The rings are read and reset below, in memory the client may shrink
	// at any moment (see fault.go): a fault refuses the client.
	defer func(old bool) {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if !isFault(r) {
				panic(r)
			}
			ifName, err = "", reject(control.ReasonMemoryFault)
		}
	}(debug.SetPanicOnFault(true))
	s := newSession(h, conn)
	s.peerName, s.peerIfName = init.Name, peerIfName
	ok := false
	defer func() {
		if !ok {
			s.release()
		}
	}()
	mem, err := s.mapRegions(offer)
	if err != nil {
		return "", err
	}
	if err := s.addServerRings(offer, mem); err != nil {
		return "", err
	}
	s.resetRings()
	s.armRx()
	if reason := s.start(); reason != "" {
		return "", reject(reason)
	}
	ok = true
	for _, ro := range offer.Regions {
		closeFD(ro.FD)
	}
	for _, ro := range offer.Rings {
		closeFD(ro.FD)
	}
	return h.cfg.IfName, nil
}

// mapRegions maps the regions the client offered; control closes the
// offered fds if we refuse, so it works on duplicates (Connect closes the
// originals once s owns everything). Errors are refusals.
func (s *session) mapRegions(offer *control.Offer) ([][]byte, error) {
	mem := make([][]byte, len(offer.Regions))
	for n, ro := range offer.Regions {
		fd, err := dupFD(ro.FD)
		if err != nil {
			return nil, reject(control.ReasonDeviceError)
		}
		r, err := ring.MapRegion(fd, ro.Size, s.h.cfg.RequireSealedRegions)
		if err != nil {
			return nil, reject(fmt.Sprintf("Failed to map region %d: %v", n, err))
		}
		s.regions = append(s.regions, r)
		s.unsealed = s.unsealed || !r.Sealed
		mem[n] = r.Data
	}
	return mem, nil
}

// addServerRings adds the rings the client offered, each where ADD_RING
// says, after checking it lies inside its region and carries the cookie.
// Errors are refusals.
func (s *session) addServerRings(offer *control.Offer, mem [][]byte) error {
	cacheLine := s.h.cfg.CacheLine
	for _, ro := range offer.Rings {
		m := ro.Msg
		if int(m.Region) >= len(mem) {
			return reject(control.ReasonRegionIndex)
		}
		region := mem[m.Region]
		if uint64(m.Offset)+uint64(ring.RingBytes(cacheLine, m.Log2RingSize)) > uint64(len(region)) {
			return reject(fmt.Sprintf("Ring %d outside region %d", m.Index, m.Region))
		}
		r, err := ring.NewRing(region[m.Offset:], cacheLine, m.Log2RingSize)
		if err != nil {
			return reject(fmt.Sprintf("Bad ring %d: %v", m.Index, err))
		}
		if r.Cookie() != ring.Cookie {
			return reject(control.ReasonWrongRing)
		}
		fd, err := dupFD(ro.FD)
		if err != nil {
			return reject(control.ReasonDeviceError)
		}
		ev, err := ring.EventFDFrom(fd)
		if err != nil {
			return reject(control.ReasonMissingIntFD)
		}
		s.events = append(s.events, ev)
		// control hands the rings over as C2S 0..n-1, then S2C 0..m-1,
		// within our Limits; check anyway, the queues are indexed by it.
		c2s := m.Flags&control.RingFlagC2S != 0
		next := len(s.tx)
		if c2s {
			next = len(s.rx)
		}
		if int(m.Index) != next {
			return reject(control.ReasonRingIndex)
		}
		if err := s.addRing(r, ring.Config{Role: ring.Server, Regions: mem}, ev, c2s); err != nil {
			if err == errRingIndex {
				return reject(control.ReasonRingIndex)
			}
			return reject(control.ReasonDeviceError)
		}
	}
	if len(s.rx) == 0 || len(s.tx) == 0 {
		return reject(control.ReasonRingIndex)
	}
	return nil
}

func dupFD(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

func closeFD(fd int) { _ = unix.Close(fd) }
