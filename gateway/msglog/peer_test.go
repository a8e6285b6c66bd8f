package msglog

import (
	"context"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// recorder is a Replicator that keeps what it was told.
type recorder struct{ got []Entry }

func (r *recorder) Replicate(_ *store.Txn, e *Entry) error {
	e.Box = "box1"
	r.got = append(r.got, *e)
	return nil
}

// Every write of the log is told to the Replicator, with the box stamped
// on what is stored; merging an entry from another box is not told.
func TestReplicatorSeesEveryWrite(t *testing.T) {
	st := testkit.Store(t)
	r := &recorder{}
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	l, err := New(Config{Store: st, Now: clk.Now, Replicator: r})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := message.Outbound{ID: "cli-1", Channel: "sms", To: "+4917012345678", Text: "Hallo"}
	if err := l.Outbound(ctx, message.SMS, o, ""); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	if err := l.Status(ctx, message.StatusEvent{ID: "cli-1", Status: message.Sent, Sender: "sim1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Merge(ctx, Entry{ID: "peer-1", Direction: In, Status: Received, Peer: "+4917000", Created: clk.Now(), Updated: clk.Now(), Box: "box2"}); err != nil {
		t.Fatal(err)
	}
	if len(r.got) != 2 || r.got[0].Status != message.Queued || r.got[1].Status != message.Sent || r.got[1].Local != "sim1" {
		t.Fatalf("replicator got %+v, want the queued and the sent version of cli-1", r.got)
	}
	if e, _ := l.Get(ctx, "cli-1"); e.Box != "box1" {
		t.Errorf("stored entry has box %q, want box1", e.Box)
	}
}

// The merge of two versions of one entry is the same whichever arrives
// first: an advancing status wins, otherwise the later write, then the
// larger box name; the search index follows the merged status.
func TestMergeIsDeterministic(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	base := Entry{ID: "campaign-c1-1-1", Direction: Out, Kind: message.SMS, Channel: "sms", Peer: "+4917012345678", Text: "Termin",
		Created: t0, Updated: t0, Status: message.Queued, Box: "box1"}
	with := func(s message.Status, at time.Duration, box string) Entry {
		e := base
		e.Status, e.Updated, e.Box = s, t0.Add(at), box
		return e
	}
	cases := []struct {
		name string
		a, b Entry
		want Entry
	}{
		{"delivered beats a later sent", with(message.Delivered, time.Second, "box1"), with(message.Sent, 5*time.Second, "box2"), with(message.Delivered, time.Second, "box1")},
		{"same rank: later write", with(message.Failed, time.Second, "box1"), with(message.Read, 2*time.Second, "box2"), with(message.Read, 2*time.Second, "box2")},
		{"same rank and time: larger box", with(message.Failed, time.Second, "box2"), with(message.Read, time.Second, "box1"), with(message.Failed, time.Second, "box2")},
	}
	for _, c := range cases {
		for _, order := range [][2]Entry{{c.a, c.b}, {c.b, c.a}} {
			l, _, _ := newLog(t)
			ctx := context.Background()
			for _, e := range order {
				if _, err := l.Merge(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			got, err := l.Get(ctx, base.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != c.want.Status || got.Box != c.want.Box || !got.Updated.Equal(c.want.Updated) {
				t.Errorf("%s, %s then %s: got %s by %s at %v, want %s by %s", c.name, order[0].Status, order[1].Status,
					got.Status, got.Box, got.Updated, c.want.Status, c.want.Box)
			}
			page, err := l.Search(ctx, Query{Status: c.want.Status})
			if err != nil || len(page.Items) != 1 {
				t.Errorf("%s: search by status %s finds %d (%v), want 1", c.name, c.want.Status, len(page.Items), err)
			}
			loser := c.a.Status
			if loser == c.want.Status {
				loser = c.b.Status
			}
			if page, _ := l.Search(ctx, Query{Status: loser}); len(page.Items) != 0 {
				t.Errorf("%s: the replaced status %s is still in the index", c.name, loser)
			}
			// Applying a version again changes nothing.
			if wrote, err := l.Merge(ctx, order[1]); err != nil || wrote {
				t.Errorf("%s: merging a version again wrote %v (%v)", c.name, wrote, err)
			}
		}
	}
}
