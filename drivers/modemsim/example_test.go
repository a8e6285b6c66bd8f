package modemsim_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

// Two modems on one simulated network, the control API on loopback, and a
// message from outside for the first one. A driver opens m.Path() (or the
// stable m.Link()) with go.bug.st/serial.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	network := modemsim.NewNetwork(modemsim.WithUSSD("*100#", "Guthaben: 12,34 EUR"))
	defer network.Close()
	a, err := network.AddModem(ctx, modemsim.Config{Model: "EC25", SendLatency: 300 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := network.AddModem(ctx, modemsim.Config{Model: "SIM800", PIN: "1234"}); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // cmd/modemsim uses 127.0.0.1:7420
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: network.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	err = network.Inject(ctx, a.Number(), modemsim.InboundSMS{From: "+4917012345678", Text: "Hallo 👋", Parts: 2, Order: []int{1, 0}})
	fmt.Println(err)
	// Output: <nil>
}
