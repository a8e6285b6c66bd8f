package campaign

import (
	"errors"
	"slices"
	"testing"
)

// RetryRecipient sends exactly the one failed recipient again (a new
// message ID, attempt 2), leaves the other failed one failed, and refuses
// a recipient that did not fail and an unknown number.
func TestRetryRecipientResendsOnlyThatOne(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(4)
	ch.reject[rs[1].Number] = true
	ch.reject[rs[2].Number] = true
	ev := newEnv(t, "", Config{}, ch)
	c, _ := ev.e.Create(bg, smsSpec("One", "sms-1", "now"), rs)
	c = ev.waitState(c.ID, Completed)
	if c.Counts.Failed != 2 {
		t.Fatalf("counts %+v", c.Counts)
	}
	if _, err := ev.e.RetryRecipient(bg, c.ID, rs[0].Number); !errors.Is(err, ErrTransition) {
		t.Errorf("retry of a sent recipient: %v, want ErrTransition", err)
	}
	if _, err := ev.e.RetryRecipient(bg, c.ID, "+4900000"); !errors.Is(err, ErrRecipientNotFound) || !errors.Is(err, ErrNotFound) {
		t.Errorf("retry of an unknown number: %v", err)
	}
	ch.mu.Lock()
	ch.reject = map[string]bool{}
	ch.mu.Unlock()
	before := len(ch.sends())
	c, err := ev.e.RetryRecipient(bg, c.ID, " "+rs[2].Number+" ")
	if err != nil || c.State != Retrying {
		t.Fatalf("retry one: %v %s", err, c.State)
	}
	c = ev.waitState(c.ID, Completed)
	var ids []string
	for _, s := range ch.sends()[before:] {
		ids = append(ids, s.ID)
	}
	if !slices.Equal(ids, []string{"campaign-1-3-2"}) {
		t.Errorf("retried %v, want only recipient 3 with attempt 2", ids)
	}
	if c.Counts.Failed != 1 || c.Counts.Sent != 3 {
		t.Errorf("counts after retrying one: %+v", c.Counts)
	}
	got := map[string]RecipientStatus{}
	for _, r := range ev.recipients(c.ID) {
		got[r.Number] = r.Status
	}
	if got[rs[1].Number] != RFailed || got[rs[2].Number] != RSent {
		t.Errorf("statuses %v", got)
	}
}

// RetryRecipients sends a selection of failed recipients again in one
// retry (attempt 2 for exactly those), leaves the unselected failed one
// failed, and retries nothing when the selection holds a recipient that
// did not fail or an unknown number.
func TestRetryRecipientsResendsTheSelection(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(5)
	for _, i := range []int{1, 2, 4} {
		ch.reject[rs[i].Number] = true
	}
	ev := newEnv(t, "", Config{}, ch)
	c, _ := ev.e.Create(bg, smsSpec("Some", "sms-1", "now"), rs)
	c = ev.waitState(c.ID, Completed)
	if c.Counts.Failed != 3 {
		t.Fatalf("counts %+v", c.Counts)
	}
	if _, err := ev.e.RetryRecipients(bg, c.ID, []string{rs[1].Number, rs[0].Number}); !errors.Is(err, ErrTransition) {
		t.Errorf("a selection with a sent recipient: %v, want ErrTransition", err)
	}
	if _, err := ev.e.RetryRecipients(bg, c.ID, []string{rs[1].Number, "+4900000"}); !errors.Is(err, ErrRecipientNotFound) {
		t.Errorf("a selection with an unknown number: %v, want ErrRecipientNotFound", err)
	}
	if _, err := ev.e.RetryRecipients(bg, c.ID, nil); !errors.Is(err, ErrRecipientNotFound) {
		t.Errorf("an empty selection: %v, want ErrRecipientNotFound", err)
	}
	if got, _ := ev.e.Get(bg, c.ID); got.Attempt != 1 || got.Counts.Failed != 3 || got.State != Completed {
		t.Fatalf("a refused selection changed the campaign: attempt %d, %s, %+v", got.Attempt, got.State, got.Counts)
	}
	ch.mu.Lock()
	ch.reject = map[string]bool{}
	ch.mu.Unlock()
	before := len(ch.sends())
	c, err := ev.e.RetryRecipients(bg, c.ID, []string{rs[4].Number, rs[1].Number, rs[4].Number})
	if err != nil || c.State != Retrying {
		t.Fatalf("retry the selection: %v %s", err, c.State)
	}
	c = ev.waitState(c.ID, Completed)
	var ids []string
	for _, s := range ch.sends()[before:] {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"campaign-1-2-2", "campaign-1-5-2"}) {
		t.Errorf("retried %v, want recipients 2 and 5 with attempt 2", ids)
	}
	if c.Counts.Failed != 1 || c.Counts.Sent != 4 {
		t.Errorf("counts after retrying the selection: %+v", c.Counts)
	}
	got := map[string]RecipientStatus{}
	for _, r := range ev.recipients(c.ID) {
		got[r.Number] = r.Status
	}
	if got[rs[2].Number] != RFailed || got[rs[1].Number] != RSent || got[rs[4].Number] != RSent {
		t.Errorf("statuses %v", got)
	}
}
