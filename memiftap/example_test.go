package memiftap_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/memifpcap/memifpcap/memifpcap"
	"github.com/memifpcap/memifpcap/memiftap"
)

// A tap between VPP (a memif server on /run/vpp/memif.sock) and a client
// app pointed at /run/app.sock, recording both directions until SIGINT.
func Example() {
	f, err := os.Create("link.pcapng")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	tap, err := memiftap.New(&memiftap.Config{
		Upstream:   memifpcap.Config{Role: memifpcap.RoleClient, Socket: "/run/vpp/memif.sock", ConnectWait: -1},
		Downstream: memifpcap.Config{Role: memifpcap.RoleServer, Socket: "/run/app.sock"},
		Capture:    &memiftap.Capture{W: f},
		OnEvent:    func(line string) { log.Print(line) },
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := tap.Run(ctx); err != nil {
		log.Fatal(err)
	}
	st := tap.Stats()
	log.Printf("VPP to app: %d frames, app to VPP: %d frames, %d not recorded",
		st.FromUpstream.Frames, st.FromDownstream.Frames, st.FromUpstream.NotRecorded+st.FromDownstream.NotRecorded)
}
