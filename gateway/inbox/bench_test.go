package inbox

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

func benchStore(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open(store.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkAccept: one inbound message stored, de-duplication mark set and
// synced to disk — what a driver waits for before acknowledging.
func BenchmarkAccept(b *testing.B) {
	st := benchStore(b)
	ib, err := New(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	in := message.Inbound{Kind: message.SMS, Channel: "sms", From: "+4915100000001", Text: "Hallo, ich hätte gern einen Rückruf."}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		in.ID = fmt.Sprintf("sms-%d", i)
		if err := ib.Accept(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcceptDuplicate: a message the inbox has already (a SIM listing
// or Meta's retry) — read, dropped, synced.
func BenchmarkAcceptDuplicate(b *testing.B) {
	st := benchStore(b)
	ib, err := New(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	in := message.Inbound{ID: "wamid.1", Kind: message.WhatsApp, Channel: "whatsapp", From: "4917000000001", Text: "Hallo"}
	if err := ib.Accept(ctx, in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := ib.Accept(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliver: stored messages handed to a consumer, in order, and
// deleted (batches of 128), per message; b.N messages are accepted before
// the timer starts.
func BenchmarkDeliver(b *testing.B) {
	st := benchStore(b)
	ib, err := New(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := message.Inbound{Kind: message.SMS, Channel: "sms", From: "+4915100000001", Text: "Hallo"}
	for i := range b.N {
		in.ID = fmt.Sprintf("sms-%d", i)
		if err := ib.Accept(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	all := make(chan struct{})
	taken := 0
	if err := ib.Register(ConsumerFunc(func(context.Context, message.Inbound) error {
		if taken++; taken == b.N {
			close(all)
		}
		return nil
	})); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan error, 1)
	go func() { done <- ib.Run(ctx) }()
	<-all
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
