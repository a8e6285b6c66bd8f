package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// txnOwner is an owner that also takes events inside the channel's
// transaction: it writes h/<id> there and notes what done told it.
type txnOwner struct {
	owner
	later bool // answer ErrNotInTxn
	dones []string
}

func (o *txnOwner) HandleStatusTxn(_ context.Context, txn *store.Txn, ev message.StatusEvent) (func(bool), error) {
	if !o.ids[ev.ID] {
		return nil, fmt.Errorf("%s: %w", ev.ID, o.notMine)
	}
	if o.later {
		return nil, ErrNotInTxn
	}
	if err := txn.Set([]byte("h/"+ev.ID), nil); err != nil {
		return nil, err
	}
	return func(committed bool) { o.dones = append(o.dones, fmt.Sprint(ev.ID, " ", committed)) }, nil
}

// txnFollower is a follower that must see the events of the IDs in
// durable (as chat sessions must see their campaign messages' statuses).
type txnFollower struct {
	owner
	durable map[string]bool
}

func (f *txnFollower) FollowsTxn(_ *store.Txn, ev message.StatusEvent) (bool, error) {
	return f.durable[ev.ID], nil
}

type txnJournal struct{ journal }

func (j *txnJournal) StatusTxn(txn *store.Txn, ev message.StatusEvent) error {
	return txn.Set([]byte("j/"+ev.ID), nil)
}

// StatusTxn: the journal and the claimant write in the channel's
// transaction; followers and observers hear of the event only once it
// committed; a handler before the claimant without the Txn interface, a
// journal without it, or ErrNotInTxn leave the event to the ordinary way
// with nothing written; an event nobody claims is journalled there.
func TestStatusTxn(t *testing.T) {
	t.Parallel()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j := &txnJournal{}
	r := New(Config{Journal: j})
	campaigns := &txnOwner{owner: owner{ids: map[string]bool{"c1": true, "c2": true}, notMine: errNotCampaign}}
	sessions := &owner{ids: map[string]bool{"s1": true}, notMine: errNotSession}
	chats := &txnFollower{owner: owner{ids: map[string]bool{"c1": true, "c2": true, "c3": true}, notMine: errNotSession},
		durable: map[string]bool{"c3": true}}
	r.Register("campaigns", campaigns, errNotCampaign)
	if err := r.Follow("campaigns", "chat sessions", chats, errNotSession); err != nil {
		t.Fatal(err)
	}
	var observed []string
	r.Observe(func(ev message.StatusEvent) { observed = append(observed, ev.ID) })

	offer := func(id string, commit bool) bool {
		t.Helper()
		var taken bool
		var done func(bool)
		errAbort := errors.New("abort")
		err := st.Update(func(txn *store.Txn) error {
			var err error
			taken, done, err = r.StatusTxn(context.Background(), txn, message.StatusEvent{ID: id, Status: message.Sent})
			if err != nil {
				return err
			}
			if !commit {
				return errAbort
			}
			return nil
		})
		if err != nil && !errors.Is(err, errAbort) {
			t.Fatal(err)
		}
		if taken {
			done(err == nil)
		}
		return taken
	}
	stored := func(key string) bool {
		t.Helper()
		var ok bool
		if err := st.View(func(txn *store.Txn) error {
			_, err := txn.Get([]byte(key))
			ok = err == nil
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}

	if !offer("c1", true) {
		t.Fatal("c1 not taken")
	}
	if !stored("h/c1") || !stored("j/c1") {
		t.Fatal("c1: the claimant's or the journal's write is not in the commit")
	}
	if !slices.Equal(campaigns.dones, []string{"c1 true"}) || !slices.Equal(chats.got, []string{"c1"}) || !slices.Equal(observed, []string{"c1"}) {
		t.Fatalf("c1: dones %v, followers %v, observers %v", campaigns.dones, chats.got, observed)
	}
	if !offer("c2", false) {
		t.Fatal("c2 not taken")
	}
	if stored("h/c2") || !slices.Equal(campaigns.dones, []string{"c1 true", "c2 false"}) || len(chats.got) != 1 || len(observed) != 1 {
		t.Fatalf("c2, not committed: dones %v, followers %v, observers %v", campaigns.dones, chats.got, observed)
	}
	// Nobody claims it: journalled in the transaction, observed after.
	if !offer("x1", true) || !stored("j/x1") || !slices.Equal(observed, []string{"c1", "x1"}) {
		t.Fatalf("unclaimed: journal %v, observers %v", stored("j/x1"), observed)
	}
	// A follower that must see c3 across a crash: the ordinary way, with
	// nothing written (asked before the claimant writes).
	campaigns.ids["c3"] = true
	if offer("c3", true) || stored("h/c3") || stored("j/c3") || len(chats.got) != 1 {
		t.Fatalf("c3 (a follower must see it durably): taken or written; followers %v", chats.got)
	}
	campaigns.later = true
	if offer("c2", true) || stored("j/c2") || stored("h/c2") {
		t.Fatal("ErrNotInTxn: taken or written")
	}
	campaigns.later = false
	// A handler that cannot take events in the transaction comes before
	// the claimant of s1 (and of nothing claimed): the ordinary way.
	r.Register("sessions", sessions, errNotSession)
	if offer("s1", true) || stored("j/s1") {
		t.Fatal("s1 (its handler has no HandleStatusTxn): taken or journalled in the transaction")
	}
	if !offer("c2", true) || !stored("h/c2") {
		t.Fatal("c2 (claimed before the plain handler): not taken")
	}
	plain := New(Config{Journal: &journal{}})
	plain.Register("campaigns", campaigns, errNotCampaign)
	err = st.Update(func(txn *store.Txn) error {
		taken, _, err := plain.StatusTxn(context.Background(), txn, message.StatusEvent{ID: "c1", Status: message.Delivered})
		if taken {
			t.Error("taken with a journal that has no StatusTxn")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A follower that cannot tell (no FollowsTxn): the ordinary way.
	blind := New(Config{Journal: &txnJournal{}})
	blind.Register("campaigns", campaigns, errNotCampaign)
	if err := blind.Follow("campaigns", "chat sessions", &owner{ids: map[string]bool{}, notMine: errNotSession}, errNotSession); err != nil {
		t.Fatal(err)
	}
	err = st.Update(func(txn *store.Txn) error {
		taken, _, err := blind.StatusTxn(context.Background(), txn, message.StatusEvent{ID: "c1", Status: message.Delivered})
		if taken {
			t.Error("taken with a follower that has no FollowsTxn")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
