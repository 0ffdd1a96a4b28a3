//go:build linux

package control_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/memifpcap/memifpcap/control"
)

// A client connecting to DPDK's default socket, the abstract name
// "/run/memif.sock". The planner creates the shared memory within the
// server's HELLO limits (package ring does this for real).
func ExampleClientHandshake() {
	addr, err := control.ParseAddr("@/run/memif.sock")
	if err != nil {
		log.Fatal(err)
	}
	c, err := control.Dial(context.Background(), addr)
	if err != nil {
		log.Fatal(err) // wraps ECONNREFUSED when nobody listens
	}
	defer c.Close()
	plan := func(h control.Hello) (*control.Offer, error) {
		return nil, errors.New("create regions and eventfds here")
	}
	res, err := control.ClientHandshake(c, control.ClientParams{ID: 0, Name: "memifpcap", IfName: "memif0"}, plan)
	var refused *control.DisconnectError
	if errors.As(err, &refused) {
		log.Fatalf("server said: %s", refused.Reason) // e.g. "Incorrect secret"
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected to", res.PeerIfName)
}

// A server for one interface id on the file socket VPP and libmemif use by
// default.
func ExampleServer() {
	l, err := control.Listen(control.Addr{Name: "/run/vpp/memif.sock"})
	if err != nil {
		log.Fatal(err)
	}
	s := control.NewServer(l, control.ServerConfig{
		Name:    "memifpcap",
		OnError: func(err error) { log.Print(err) },
	})
	defer s.Close()
	var iface control.ServerInterface // maps the offer and brings the link up
	if err := s.Register(0, iface); err != nil {
		log.Print(err) // a nil interface is refused
	}
	s.Start() // clients are answered from here on, id 0 already served
}
