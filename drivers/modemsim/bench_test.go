package modemsim

import (
	"strings"
	"testing"
	"time"

	"github.com/warthog618/modem/at"
)

// BenchmarkSubmit measures one AT+CMGS round trip (prompt, PDU, answer)
// through a real pty with zero simulated latency: the simulator's own
// overhead per sent part.
func BenchmarkSubmit(b *testing.B) {
	n := NewNetwork()
	defer n.Close()
	m, err := n.AddModem(b.Context(), Config{Model: "EC25"})
	if err != nil {
		b.Fatal(err)
	}
	a, _ := openAT(b, m.Path())
	if err := a.Init(); err != nil {
		b.Fatal(err)
	}
	if _, err := a.Command("+CMGF=0"); err != nil {
		b.Fatal(err)
	}
	l, pdu, _ := strings.Cut(submitPDUs(b, "+491701234567", "hello", 1, false)[0], ":")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.SMSCommand("+CMGS="+l, pdu); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInjectStored measures network delivery of an inbound SMS up to
// storage (+CMTI), read and delete by AT commands.
func BenchmarkInjectStored(b *testing.B) {
	n := NewNetwork()
	defer n.Close()
	m, err := n.AddModem(b.Context(), Config{Model: "EC25"})
	if err != nil {
		b.Fatal(err)
	}
	cmti := make(chan []string, 1)
	a, _ := openAT(b, m.Path(), at.WithIndication("+CMTI:", func(l []string) { cmti <- l }))
	if err := a.Init(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := n.Inject(b.Context(), m.Number(), InboundSMS{From: "+491701234", Text: "benchmark"}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-cmti:
		case <-time.After(guard):
			b.Fatal("no +CMTI")
		}
		if _, err := a.Command("+CMGR=0"); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Command("+CMGD=0"); err != nil {
			b.Fatal(err)
		}
	}
}
