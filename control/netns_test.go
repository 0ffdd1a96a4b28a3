//go:build linux

package control

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memifpcap/memifpcap/internal/netnstest"
)

// netnsOf returns the identity of the network namespace of every thread
// of this process.
func netnsOf(t *testing.T) map[string]int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, p := range tasks {
		if ns, err := os.Readlink(p); err == nil {
			seen[ns]++
		}
	}
	return seen
}

// An abstract socket bound in a namespace is found only from inside it:
// from the root namespace by its netns_name address, not by its bare name.
// Every thread of the process stays in its own namespace throughout.
func TestNetns(t *testing.T) {
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ns := netnstest.New(t)
	inside, err := os.Readlink(ns)
	if err != nil {
		t.Fatal(err)
	}
	if inside == own {
		t.Fatalf("the new namespace is the process's own, %s", own)
	}
	name := fmt.Sprintf("memifpcap-netns-test-%d", os.Getpid())
	a, err := ParseAddr("abstract:" + name + ",netns_name=" + ns)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen(a)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, err := Dial(ctx, Addr{Name: name, Abstract: true}); err == nil {
		c.Close()
		t.Fatal("the namespace's abstract socket was found from the root namespace")
	} else if !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("dial without the namespace: %v, want connection refused", err)
	}

	c, err := Dial(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var s *Conn
	select {
	case s = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener in the namespace accepted nothing")
	}
	defer s.Close()
	if err := s.Send(Hello{Name: "in the namespace", MinVersion: Version, MaxVersion: Version, MaxRegion: 1, MaxS2CRing: 1, MaxC2SRing: 1, MaxLog2RingSize: 10}, -1); err != nil {
		t.Fatal(err)
	}
	m, _, err := c.Recv(time.Now().Add(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := m.(Hello); !ok || h.Name != "in the namespace" {
		t.Fatalf("received %#v", m)
	}
	for th, n := range netnsOf(t) {
		if th != own {
			t.Errorf("%d threads are in network namespace %s, not the process's %s", n, th, own)
		}
	}
}

func TestNetnsErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct{ addr, want string }{
		{"abstract:x,netns_name=memifpcap-no-such-ns", "memif: dial @x,netns_name=/var/run/netns/memifpcap-no-such-ns: network namespace /var/run/netns/memifpcap-no-such-ns does not exist (`ip netns list` shows the named ones)"},
		{"abstract:x,netns_pid=2147483646", "network namespace /proc/2147483646/ns/net does not exist"},
		{"abstract:x,netns_name=/etc/hostname", "network namespace /etc/hostname: not a network namespace file: setns: invalid argument"},
	} {
		a, err := ParseAddr(c.addr)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Dial(ctx, a)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Dial(%s) = %v, want %q", c.addr, err, c.want)
		}
		if _, err := Listen(a); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "memif: dial "+a.String()+": ")) {
			t.Errorf("Listen(%s) = %v, want %q", c.addr, err, c.want)
		}
	}
}
