package inbound

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/rules"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// sessions records what reached the PBX side.
type sessions struct {
	channels map[string]bool
	mu       sync.Mutex
	got      []string
}

func (s *sessions) Handles(ch string) bool { return s.channels[ch] }
func (s *sessions) Inbound(_ context.Context, in message.Inbound) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, in.ID)
	return nil
}

// queue records what the automation sent as SMS.
type queue struct {
	mu   sync.Mutex
	sent []message.Outbound
}

func (q *queue) Enqueue(_ context.Context, m message.Outbound) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, m)
	return nil
}

// TestPipelineOrder runs real consent, rules and message log on a store: a
// message is logged, a STOP is answered on the SIM it came in on and stays
// out of the chat sessions, an ordinary message goes to the sessions of its
// channel, and one on a channel without a session route goes nowhere else.
func TestPipelineOrder(t *testing.T) {
	st := testkit.Store(t)
	cs, err := consent.New(consent.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	out := &Outbound{SMS: q, DefaultSMS: "sms"}
	eng, err := rules.New(rules.Config{Store: st, Consent: cs, Replier: out, SMS: out, Campaigns: out})
	if err != nil {
		t.Fatal(err)
	}
	log, err := msglog.New(msglog.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	s := &sessions{channels: map[string]bool{"sms": true}}
	p, err := New(Config{Journal: log, Rules: eng, Sessions: s})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	msgs := []message.Inbound{
		{ID: "in-1", Kind: message.SMS, Channel: "sms", Receiver: "+4915200000001", From: "+4917011111111", Text: "STOP", At: at},
		{ID: "in-2", Kind: message.SMS, Channel: "sms", Receiver: "+4915200000001", From: "+4917022222222", Text: "Hallo", At: at},
		{ID: "in-3", Kind: message.SMS, Channel: "other", Receiver: "+4915200000002", From: "+4917033333333", Text: "Hallo", At: at},
	}
	for _, in := range msgs {
		if err := p.Inbound(ctx, in); err != nil {
			t.Fatalf("%s: %v", in.ID, err)
		}
		if _, err := log.Get(ctx, in.ID); err != nil {
			t.Errorf("%s not in the message log: %v", in.ID, err)
		}
	}
	if fmt.Sprint(s.got) != "[in-2]" {
		t.Errorf("sessions got %v, want [in-2]", s.got)
	}
	if _, blocked := cs.Blocked(ctx, "+4917011111111"); !blocked {
		t.Error("STOP did not opt the contact out")
	}
	if len(q.sent) != 1 || q.sent[0].To != "+4917011111111" || q.sent[0].Sender != "+4915200000001" ||
		q.sent[0].Channel != "sms" || !strings.Contains(q.sent[0].Text, "START") {
		t.Errorf("STOP confirmation %+v, want one to the contact from the receiving SIM", q.sent)
	}
	// Offered again (the inbox redelivers after a crash): no second answer.
	if err := p.Inbound(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
	if len(q.sent) != 1 {
		t.Errorf("redelivery answered again: %+v", q.sent)
	}
}
