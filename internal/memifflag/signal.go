package memifflag

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Signals is how every tool stops, for its main: the first SIGINT or
// SIGTERM ends the context it returns (stop now: whatever the tool waits
// for, a server, the link, room in a full ring, ends; the output is
// completed, the last frames get a short drain while the peer takes them,
// and the summary is printed); the second ends SecondSignal(ctx) (skip
// what is left of that drain and of Close's linger); a third kills the
// process the default way. release stops listening.
func Signals() (ctx context.Context, release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	first, stopFirst := context.WithCancel(context.Background())
	second, stopSecond := context.WithCancel(context.Background())
	quit := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case <-sigs:
			case <-quit:
				return
			}
			if n == 1 {
				stopFirst()
				continue
			}
			stopSecond()
			signal.Stop(sigs) // the next one takes the default action
			return
		}
	}()
	return WithSecondSignal(first, second), func() {
		signal.Stop(sigs)
		close(quit)
		stopFirst()
		stopSecond()
	}
}

type secondSignalKey struct{}

// WithSecondSignal returns ctx carrying second, the context that a second
// signal ends (see Signals); tests use it to play one.
func WithSecondSignal(ctx, second context.Context) context.Context {
	return context.WithValue(ctx, secondSignalKey{}, second)
}

// SecondSignal returns the context a second signal ends, carried by ctx
// (see Signals), or one that never ends.
func SecondSignal(ctx context.Context) context.Context {
	if s, ok := ctx.Value(secondSignalKey{}).(context.Context); ok {
		return s
	}
	return context.Background()
}
