package modem

import (
	"context"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

// BenchmarkSend measures one single-part SMS through the driver, a real
// pty and the simulator (no send latency): the gateway's per-message cost
// on the modem side. Allocations include the simulator's, which runs in
// the same process.
func BenchmarkSend(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	net := modemsim.NewNetwork()
	defer net.Close()
	sim, err := net.AddModem(ctx, modemsim.Config{Model: "EC25"})
	if err != nil {
		b.Fatal(err)
	}
	m, err := Open(ctx, Config{Name: "bench", Device: sim.Path()}, Handlers{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Send(ctx, "+4917012345678", "Your appointment is confirmed for Monday 10:00.", false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsole runs AT+CSQ from the AT console through the driver, a
// real pty and the simulator: what one administrator's command costs
// (the command lock, the AT engine, the pty round trip).
func BenchmarkConsole(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	net := modemsim.NewNetwork()
	defer net.Close()
	sim, err := net.AddModem(ctx, modemsim.Config{Model: "EC25"})
	if err != nil {
		b.Fatal(err)
	}
	m, err := Open(ctx, Config{Name: "bench", Device: sim.Path()}, Handlers{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ReportAllocs()
	for b.Loop() {
		if res, err := m.Console(ctx, "AT+CSQ", 0, false); err != nil || res.Final != "OK" {
			b.Fatal(res, err)
		}
	}
}
