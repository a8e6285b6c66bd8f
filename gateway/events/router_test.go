package events

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

var (
	errNotCampaign = errors.New("not a campaign message")
	errNotSession  = errors.New("not a session message")
)

// owner claims the IDs it holds; the others are not its own.
type owner struct {
	ids     map[string]bool
	notMine error
	fail    error
	got     []string
}

func (o *owner) HandleStatus(_ context.Context, ev message.StatusEvent) error {
	if o.fail != nil {
		return o.fail
	}
	if !o.ids[ev.ID] {
		return fmt.Errorf("%s: %w", ev.ID, o.notMine)
	}
	o.got = append(o.got, ev.ID)
	return nil
}

type journal struct {
	got  []string
	fail bool
}

func (j *journal) Status(_ context.Context, ev message.StatusEvent) error {
	j.got = append(j.got, ev.ID)
	if j.fail {
		return errors.New("log full")
	}
	return nil
}

func TestRouterHandsEventsToTheirSender(t *testing.T) {
	j := &journal{fail: true}
	r := New(Config{Journal: j})
	campaigns := &owner{ids: map[string]bool{"c1": true}, notMine: errNotCampaign}
	sessions := &owner{ids: map[string]bool{"s1": true, "c1": true}, notMine: errNotSession}
	chats := &owner{ids: map[string]bool{}, notMine: errNotSession} // follows campaigns: c1 is no chat
	r.Register("campaigns", campaigns, errNotCampaign)
	r.Register("sessions", sessions, errNotSession)
	if err := r.Follow("campaigns", "chat sessions", chats, errNotSession); err != nil {
		t.Fatal(err)
	}
	if err := r.Follow("nobody", "x", chats, nil); err == nil {
		t.Fatal("following an unknown handler succeeded")
	}
	var counted []string
	r.Observe(func(ev message.StatusEvent) { counted = append(counted, ev.ID) })
	ctx := context.Background()
	for _, id := range []string{"c1", "s1", "cli-1"} {
		if err := r.Status(ctx, message.StatusEvent{ID: id, Status: message.Sent}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if fmt.Sprint(campaigns.got) != "[c1]" || fmt.Sprint(sessions.got) != "[s1]" {
		t.Fatalf("campaigns took %v, sessions %v; want [c1] and [s1] (first claimant wins)", campaigns.got, sessions.got)
	}
	if fmt.Sprint(j.got) != "[c1 s1 cli-1]" || fmt.Sprint(counted) != "[c1 s1 cli-1]" {
		t.Fatalf("journal saw %v, observers %v; want every event despite the journal's failure", j.got, counted)
	}
}

// An error other than "not mine" means the event was not taken: the
// channel offers it again, so it is not counted yet and the handlers after
// the failing one are not asked.
func TestRouterPassesFailuresBack(t *testing.T) {
	r := New(Config{})
	busy := errors.New("store busy")
	campaigns := &owner{notMine: errNotCampaign, fail: busy}
	sessions := &owner{ids: map[string]bool{"x": true}, notMine: errNotSession}
	r.Register("campaigns", campaigns, errNotCampaign)
	r.Register("sessions", sessions, errNotSession)
	counted := 0
	r.Observe(func(message.StatusEvent) { counted++ })
	if err := r.Status(context.Background(), message.StatusEvent{ID: "x"}); !errors.Is(err, busy) {
		t.Fatalf("Status = %v, want the handler's error", err)
	}
	if counted != 0 || len(sessions.got) != 0 {
		t.Fatalf("counted %d, sessions took %v after a failure", counted, sessions.got)
	}
}

// batchOwner is an owner that takes a batch in one call and says which
// events it took.
type batchOwner struct {
	owner
	calls  int
	failID string // HandleStatuses fails this event only
}

func (o *batchOwner) HandleStatuses(ctx context.Context, evs []message.StatusEvent) []error {
	o.calls++
	errs := make([]error, len(evs))
	for i, ev := range evs {
		if ev.ID == o.failID {
			errs[i] = errors.New("store busy")
			continue
		}
		errs[i] = o.HandleStatus(ctx, ev)
	}
	return errs
}

type batchJournal struct {
	journal
	batches int
}

func (j *batchJournal) Statuses(ctx context.Context, evs []message.StatusEvent) error {
	j.batches++
	for _, ev := range evs {
		_ = j.Status(ctx, ev)
	}
	return nil
}

// StatusBatch routes a batch as Status routes its events one by one: the
// first claimant wins, a batch handler gets its share in one call, events
// nobody claims are taken, and a handler's failure stops the count of
// taken events there (the rest are offered again, so observers do not
// count them yet).
func TestStatusBatchRoutesLikeStatus(t *testing.T) {
	j := &batchJournal{}
	r := New(Config{Journal: j})
	campaigns := &batchOwner{owner: owner{ids: map[string]bool{"c1": true, "c2": true, "c3": true}, notMine: errNotCampaign}}
	sessions := &owner{ids: map[string]bool{"s1": true, "c1": true}, notMine: errNotSession}
	chats := &owner{ids: map[string]bool{"c2": true}, notMine: errNotSession}
	r.Register("campaigns", campaigns, errNotCampaign)
	r.Register("sessions", sessions, errNotSession)
	if err := r.Follow("campaigns", "chat sessions", chats, errNotSession); err != nil {
		t.Fatal(err)
	}
	var counted []string
	r.Observe(func(ev message.StatusEvent) { counted = append(counted, ev.ID) })
	ctx := context.Background()
	evs := func(ids ...string) []message.StatusEvent {
		var out []message.StatusEvent
		for _, id := range ids {
			out = append(out, message.StatusEvent{ID: id, Status: message.Sent})
		}
		return out
	}
	n, err := r.StatusBatch(ctx, evs("c1", "s1", "cli-1", "c2"))
	if n != 4 || err != nil {
		t.Fatalf("took %d (%v), want all 4", n, err)
	}
	if fmt.Sprint(campaigns.got) != "[c1 c2]" || fmt.Sprint(sessions.got) != "[s1]" || fmt.Sprint(chats.got) != "[c2]" {
		t.Fatalf("campaigns took %v, sessions %v, chats followed %v; want [c1 c2], [s1], [c2]", campaigns.got, sessions.got, chats.got)
	}
	if campaigns.calls != 1 || j.batches != 1 || fmt.Sprint(j.got) != "[c1 s1 cli-1 c2]" {
		t.Fatalf("campaign batch calls %d, journal batches %d saw %v; want one call each, every event", campaigns.calls, j.batches, j.got)
	}
	if fmt.Sprint(counted) != "[c1 s1 cli-1 c2]" {
		t.Fatalf("observers counted %v", counted)
	}

	counted = nil
	campaigns.failID = "c3"
	n, err = r.StatusBatch(ctx, evs("s1", "c3", "cli-2"))
	if n != 1 || err == nil || err.Error() != "store busy" {
		t.Fatalf("took %d (%v), want 1 and the handler's error", n, err)
	}
	if fmt.Sprint(counted) != "[s1]" {
		t.Fatalf("observers counted %v, want only the taken [s1]", counted)
	}
}
