package whatsapp_test

import (
	"context"
	"sync"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// journal records what the channel hands it.
type journal struct {
	mu       sync.Mutex
	out      []string // "id kind to summary"
	statuses map[string]message.Status
}

func (j *journal) Outbound(_ context.Context, kind message.Kind, o message.Outbound, summary string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.out = append(j.out, o.ID+" "+string(kind)+" "+o.Channel+" "+o.To+" "+o.Text+"|"+summary)
	return nil
}

func (j *journal) Status(_ context.Context, ev message.StatusEvent) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.statuses[ev.ID] = ev.Status
	return nil
}

// The journal sees every message the channel takes on, once per send,
// with a summary for templates, and hears of refusals no webhook reports.
func TestJournalSeesSendsAndRefusals(t *testing.T) {
	t.Parallel()
	j := &journal{statuses: map[string]message.Status{}}
	e := newEnv(t, envConfig{virtual: true, ch: func(o *whatsapp.Options) { o.Journal = j }})
	ctx := context.Background()
	user := "4917400000009"
	if err := e.ch.Send(ctx, message.Outbound{ID: "w1", To: user, Text: "Hallo"}); err == nil {
		t.Fatal("free text outside the window was sent")
	}
	if _, err := e.ch.SendMessage(ctx, "t1", "+"+user, promo("Anna")); err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	want := []string{"w1 whatsapp whatsapp " + user + " Hallo|", "t1 whatsapp whatsapp " + user + " |template 2023_april_promo (en_US): Anna, FALL25"}
	if len(j.out) != 2 || j.out[0] != want[0] || j.out[1] != want[1] {
		t.Fatalf("journal got %q, want %q", j.out, want)
	}
	if j.statuses["w1"] != message.Failed || len(j.statuses) != 1 {
		t.Errorf("refusal: %v", j.statuses)
	}
}
