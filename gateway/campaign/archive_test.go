package campaign

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Archiving: only a finished campaign goes into the archive; there it is
// left out of the default list (and only in the archive's), refuses
// retry and resume, and is back to normal after leaving the archive.
func TestArchiveHidesAndFreezes(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(3)
	ch.reject[rs[0].Number] = true
	ev := newEnv(t, "", Config{}, ch)
	done, _ := ev.e.Create(bg, smsSpec("Alt", "sms-1", "now"), rs)
	done = ev.waitState(done.ID, Completed)
	draft, _ := ev.e.Create(bg, smsSpec("Entwurf", "sms-1", "draft"), numbers(1))
	if _, err := ev.e.Archive(bg, draft.ID, true); !errors.Is(err, ErrTransition) {
		t.Errorf("archiving a draft: %v, want ErrTransition", err)
	}
	if _, err := ev.e.Archive(bg, "nope", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("archiving an unknown campaign: %v", err)
	}
	c, err := ev.e.Archive(bg, done.ID, true)
	if err != nil || !c.Archived {
		t.Fatalf("archive: %v %+v", err, c)
	}
	ids := func(q ListQuery) []string {
		var out []string
		for _, c := range ev.e.List(bg, q).Items {
			out = append(out, c.ID)
		}
		return out
	}
	if got := ids(ListQuery{}); len(got) != 1 || got[0] != draft.ID {
		t.Errorf("default list %v, want only the draft", got)
	}
	if got := ids(ListQuery{Archived: true}); len(got) != 1 || got[0] != done.ID {
		t.Errorf("archive list %v, want only the archived one", got)
	}
	if _, err := ev.e.RetryFailed(bg, done.ID); !errors.Is(err, ErrTransition) || !strings.Contains(err.Error(), "archived") {
		t.Errorf("retry of an archived campaign: %v", err)
	}
	if _, err := ev.e.RetryRecipient(bg, done.ID, rs[0].Number); !errors.Is(err, ErrTransition) {
		t.Errorf("retry one of an archived campaign: %v", err)
	}
	// Stored: a restart keeps it archived.
	ev.close()
	ev2 := newEnv(t, ev.dir, Config{}, ch)
	if got := ev2.get(done.ID); !got.Archived {
		t.Fatal("archived flag lost on restart")
	}
	if _, err := ev2.e.Archive(bg, done.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ev2.e.RetryFailed(bg, done.ID); err != nil {
		t.Errorf("retry after leaving the archive: %v", err)
	}
}

// The retention deletes the recipient records of campaigns completed
// before the cut-off (in batches: a draft of more than one batch checks
// the loop), keeps their totals
// and makes them read-only; a newer campaign and a draft keep their
// recipients.
func TestPruneRecipientsKeepsTotals(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(5)
	ch.reject[rs[3].Number] = true
	ev := newEnv(t, "", Config{Limits: Limits{MaxRecipients: 2 * pruneBatch}}, ch)
	old, err := ev.e.Create(bg, smsSpec("Alt", "sms-1", "now"), rs)
	if err != nil {
		t.Fatal(err)
	}
	old = ev.waitState(old.ID, Completed)
	ev.clk.Advance(48 * time.Hour)
	fresh, _ := ev.e.Create(bg, smsSpec("Neu", "sms-1", "now"), numbers(2))
	ev.waitState(fresh.ID, Completed)
	draft, _ := ev.e.Create(bg, smsSpec("Entwurf", "sms-1", "draft"), numbers(2))
	n, err := ev.e.PruneRecipients(bg, ev.clk.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("prune: %d %v, want 1 campaign", n, err)
	}
	got := ev.get(old.ID)
	if got.PrunedAt.IsZero() || got.Counts != old.Counts || got.Recipients != len(rs) {
		t.Errorf("after pruning: pruned %v counts %+v (was %+v) recipients %d", got.PrunedAt, got.Counts, old.Counts, got.Recipients)
	}
	if left := ev.recipients(old.ID); len(left) != 0 {
		t.Errorf("%d recipient records left", len(left))
	}
	if left := ev.recipients(fresh.ID); len(left) != 2 {
		t.Errorf("the fresh campaign has %d recipients, want 2", len(left))
	}
	if left := ev.recipients(draft.ID); len(left) != 2 {
		t.Errorf("the draft has %d recipients, want 2", len(left))
	}
	if _, err := ev.e.RetryFailed(bg, old.ID); !errors.Is(err, ErrTransition) || !strings.Contains(err.Error(), "retention") {
		t.Errorf("retry of a pruned campaign: %v", err)
	}
	if n, err := ev.e.PruneRecipients(bg, ev.clk.Now().Add(time.Second)); err != nil || n != 1 {
		t.Errorf("second prune: %d %v, want only the fresh campaign now", n, err)
	}
	big, err := ev.e.Create(bg, smsSpec("Groß", "sms-1", "draft"), numbers(pruneBatch+5))
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.e.deleteRecipientsBatched(bg, big.ID); err != nil {
		t.Fatal(err)
	}
	if left := ev.recipients(big.ID); len(left) != 0 {
		t.Errorf("%d of %d records left after the batched delete", len(left), pruneBatch+5)
	}
}
