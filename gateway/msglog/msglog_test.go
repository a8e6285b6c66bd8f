package msglog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newLog(t testing.TB) (*Log, *store.Store, *clock) {
	t.Helper()
	st := testkit.Store(t)
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	l, err := New(Config{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return l, st, clk
}

func count(t *testing.T, st *store.Store) (entries, ids int) {
	t.Helper()
	_ = st.View(func(txn *store.Txn) error {
		entries, ids = store.Count(txn, prefixTime), store.Count(txn, prefixID)
		return nil
	})
	return entries, ids
}

func TestRecordInAndOut(t *testing.T) {
	t.Parallel()
	l, _, clk := newLog(t)
	ctx := context.Background()
	in := message.Inbound{ID: "sms-abc", Kind: message.SMS, Channel: "sms", Receiver: "sim1", From: "+4917012345678",
		Text: "Hallo", At: clk.Now()}
	if err := l.Inbound(ctx, in); err != nil {
		t.Fatal(err)
	}
	wa := message.Inbound{ID: "wamid.1", Kind: message.WhatsApp, Channel: "whatsapp", Receiver: "1234", From: "4917055566677",
		Name: "Erika", MediaType: "image", At: clk.Now()}
	if err := l.Inbound(ctx, wa); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second)
	out := message.Outbound{ID: "reply-sms-abc-x1y2", Channel: "sms", Sender: "sim1", To: "+4917012345678", Text: "Danke"}
	if err := l.Outbound(ctx, message.SMS, out, ""); err != nil {
		t.Fatal(err)
	}
	tpl := message.Outbound{ID: "campaign-c1-3-1", Channel: "whatsapp", To: "+4917055566677", Ref: "campaign/c1"}
	if err := l.Outbound(ctx, message.WhatsApp, tpl, "template hello_world (de)"); err != nil {
		t.Fatal(err)
	}

	got, err := l.Get(ctx, "sms-abc")
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{ID: "sms-abc", Direction: In, Kind: message.SMS, Channel: "sms", Peer: "+4917012345678", Local: "sim1",
		Text: "Hallo", Status: Received, Created: in.At, Updated: in.At}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("inbound entry\n got %+v\nwant %+v", got, want)
	}
	if got, _ := l.Get(ctx, "wamid.1"); got.Text != "image" || got.Name != "Erika" || got.Kind != message.WhatsApp || got.Peer != "+4917055566677" {
		t.Errorf("WhatsApp media entry: %+v", got)
	}
	r, _ := l.Get(ctx, out.ID)
	if r.Direction != Out || r.Status != message.Queued || r.Origin != OriginReply || r.OriginID != "sms-abc" || r.Text != "Danke" || r.Local != "sim1" {
		t.Errorf("reply entry: %+v", r)
	}
	c, _ := l.Get(ctx, tpl.ID)
	if c.Origin != OriginCampaign || c.OriginID != "c1" || c.Text != "template hello_world (de)" {
		t.Errorf("campaign entry: %+v", c)
	}
	if _, err := l.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}

func TestOriginOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		id, ref string
		origin  Origin
		oid     string
	}{
		{"campaign-k3x9-12-2", "campaign/k3x9", OriginCampaign, "k3x9"},
		{"campaign-k3x9-12-2", "", OriginCampaign, "k3x9"},
		{"ses-lx1abc-4", "session/lx1abc", OriginSession, "lx1abc"},
		{"ses-lx1abc-4", "", OriginSession, "lx1abc"},
		{"reply-sms-9f8e-a1b2c3", "", OriginReply, "sms-9f8e"},
		{"fwd-sms-9f8e-r1-0", "", OriginForward, ""},
		{"cli-0a1b2c", "", OriginCLI, ""},
		{"something", "", OriginOther, ""},
	}
	for _, c := range cases {
		o, id := OriginOf(c.id, c.ref)
		if o != c.origin || id != c.oid {
			t.Errorf("OriginOf(%q, %q) = %s %q, want %s %q", c.id, c.ref, o, id, c.origin, c.oid)
		}
	}
}

// A crash retry re-enqueues the same message ID: the log keeps one entry,
// the first, with its status.
func TestRecordIsIdempotent(t *testing.T) {
	t.Parallel()
	l, st, clk := newLog(t)
	ctx := context.Background()
	o := message.Outbound{ID: "cli-1", Channel: "sms", To: "+4917012345678", Text: "eins"}
	if err := l.Outbound(ctx, message.SMS, o, ""); err != nil {
		t.Fatal(err)
	}
	first, _ := l.Get(ctx, o.ID)
	if err := l.Status(ctx, message.StatusEvent{ID: o.ID, Status: message.Sent, Sender: "sim2"}); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	o.Text = "zwei"
	for range 3 {
		if err := l.Outbound(ctx, message.SMS, o, ""); err != nil {
			t.Fatal(err)
		}
	}
	in := message.Inbound{ID: "sms-1", Kind: message.SMS, Channel: "sms", From: "+4917012345678", Text: "x", At: clk.Now()}
	for range 2 {
		if err := l.Inbound(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if e, i := count(t, st); e != 2 || i != 2 {
		t.Fatalf("%d entries, %d ids; want 2 and 2", e, i)
	}
	got, _ := l.Get(ctx, o.ID)
	if got.Text != "eins" || got.Status != message.Sent || got.Local != "sim2" || !got.Created.Equal(first.Created) {
		t.Fatalf("after re-recording: %+v", got)
	}
	p, err := l.Search(ctx, Query{})
	if err != nil || len(p.Items) != 2 {
		t.Fatalf("search: %v %+v", err, p)
	}
}

func TestStatusNeverMovesBackwards(t *testing.T) {
	t.Parallel()
	l, _, clk := newLog(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		events []message.Status
		want   message.Status
	}{
		{"in order", []message.Status{message.Sending, message.Sent, message.Delivered}, message.Delivered},
		{"report before sent", []message.Status{message.Sending, message.Delivered, message.Sent}, message.Delivered},
		{"read then delivered", []message.Status{message.Sent, message.Read, message.Delivered, message.Sent}, message.Read},
		{"retry requeues", []message.Status{message.Sending, message.Queued}, message.Sending},
		{"unknown, then late news", []message.Status{message.Sending, message.Unknown, message.Sent}, message.Sent},
		{"sent beats a late unknown", []message.Status{message.Sent, message.Unknown}, message.Sent},
		{"failed after sent", []message.Status{message.Sending, message.Sent, message.Failed}, message.Failed},
		{"failed is final", []message.Status{message.Failed, message.Sent, message.Delivered, message.Sending}, message.Failed},
	}
	for i, c := range cases {
		id := fmt.Sprintf("m%d", i)
		if err := l.Outbound(ctx, message.SMS, message.Outbound{ID: id, Channel: "sms", To: "+491701", Text: c.name}, ""); err != nil {
			t.Fatal(err)
		}
		for _, st := range c.events {
			clk.add(time.Second)
			ev := message.StatusEvent{ID: id, Status: st, Sender: "sim1"}
			if st == message.Failed {
				ev.Reason, ev.Code, ev.ReasonCode = "CMS ERROR 38: network out of order", "38", message.Reason{Code: "sms.cms", Args: []string{"38"}}
			}
			if err := l.Status(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := l.Get(ctx, id)
		if got.Status != c.want {
			t.Errorf("%s: status %s, want %s", c.name, got.Status, c.want)
		}
		if c.want == message.Failed && (got.Reason == "" || got.Code != "38" || got.ReasonCode.Code != "sms.cms") {
			t.Errorf("%s: reason lost: %+v", c.name, got)
		}
	}
	// A status for a message the log never saw is no error.
	if err := l.Status(ctx, message.StatusEvent{ID: "ghost", Status: message.Sent}); err != nil {
		t.Fatal(err)
	}
	// Late news clears the reason of an unknown outcome.
	_ = l.Outbound(ctx, message.WhatsApp, message.Outbound{ID: "w1", Channel: "whatsapp", To: "+491702"}, "hi")
	_ = l.Status(ctx, message.StatusEvent{ID: "w1", Status: message.Unknown, Reason: "timeout"})
	_ = l.Status(ctx, message.StatusEvent{ID: "w1", Status: message.Delivered})
	if got, _ := l.Get(ctx, "w1"); got.Status != message.Delivered || got.Reason != "" {
		t.Errorf("unknown then delivered: %+v", got)
	}
	// Inbound entries have no outbound status.
	_ = l.Inbound(ctx, message.Inbound{ID: "i1", Kind: message.SMS, From: "+491703", Text: "x"})
	_ = l.Status(ctx, message.StatusEvent{ID: "i1", Status: message.Delivered})
	if got, _ := l.Get(ctx, "i1"); got.Status != Received {
		t.Errorf("inbound got a status: %+v", got)
	}
}

// seed records a mix of messages, one second apart, oldest first.
func seed(t *testing.T, l *Log, clk *clock) {
	t.Helper()
	ctx := context.Background()
	rows := []struct {
		dir  Direction
		kind message.Kind
		ch   string
		peer string
		name string
		text string
		st   message.Status
	}{
		{In, message.SMS, "sms", "+4917011111111", "", "Wann habt ihr offen?", Received},
		{Out, message.SMS, "sms", "+4917011111111", "", "Mo–Fr 9–17 Uhr", message.Delivered},
		{In, message.WhatsApp, "whatsapp", "4917022222222", "Erika Müller", "Hallo ÄRGER", Received},
		{Out, message.WhatsApp, "whatsapp", "+4917022222222", "", "template hello_world (de)", message.Read},
		{Out, message.SMS, "sms2", "+4917033333333", "", "Ihr Termin morgen", message.Failed},
		{Out, message.SMS, "sms", "+4917044444444", "", "Angebot: 20 % Rabatt", message.Sent},
	}
	for i, r := range rows {
		clk.add(time.Second)
		id := fmt.Sprintf("x%d", i)
		if r.dir == In {
			if err := l.Inbound(ctx, message.Inbound{ID: id, Kind: r.kind, Channel: r.ch, From: r.peer, Name: r.name, Text: r.text, At: clk.Now()}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := l.Outbound(ctx, r.kind, message.Outbound{ID: id, Channel: r.ch, To: r.peer, Text: r.text}, ""); err != nil {
			t.Fatal(err)
		}
		if err := l.Status(ctx, message.StatusEvent{ID: id, Status: r.st}); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(p Page) []string {
	var out []string
	for _, e := range p.Items {
		out = append(out, e.ID)
	}
	return out
}

func TestSearchFilters(t *testing.T) {
	t.Parallel()
	l, _, clk := newLog(t)
	seed(t, l, clk)
	ctx := context.Background()
	cases := []struct {
		name string
		q    Query
		want []string
	}{
		{"all, newest first", Query{}, []string{"x5", "x4", "x3", "x2", "x1", "x0"}},
		{"inbound", Query{Direction: In}, []string{"x2", "x0"}},
		{"outbound whatsapp", Query{Direction: Out, Kind: message.WhatsApp}, []string{"x3"}},
		{"channel", Query{Channel: "sms2"}, []string{"x4"}},
		{"failed", Query{Status: message.Failed}, []string{"x4"}},
		{"delivered sms", Query{Status: message.Delivered, Kind: message.SMS}, []string{"x1"}},
		{"text, any case", Query{Text: "OFFEN"}, []string{"x0"}},
		{"umlaut in another case", Query{Text: "ärger"}, []string{"x2"}},
		{"name", Query{Text: "müller"}, []string{"x2"}},
		{"template summary", Query{Text: "hello_world"}, []string{"x3"}},
		{"number", Query{Text: "+4917011111111"}, []string{"x1", "x0"}},
		{"national number with spaces", Query{Text: "0170 2222 2222"}, []string{"x3", "x2"}},
		{"part of a number", Query{Text: "3333"}, []string{"x4"}},
		{"percent sign", Query{Text: "20 %"}, []string{"x5"}},
		{"text and filter", Query{Text: "17", Direction: Out, Kind: message.SMS}, []string{"x5", "x4", "x1"}},
		{"nothing", Query{Text: "nichtda"}, nil},
		{"quote (no raw prefilter)", Query{Text: `"`}, nil},
	}
	for _, c := range cases {
		p, err := l.Search(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(ids(p), c.want) || p.Next != "" {
			t.Errorf("%s: %v next=%q, want %v", c.name, ids(p), p.Next, c.want)
		}
	}
}

func TestSearchPagesWithoutDuplicatesOrGaps(t *testing.T) {
	t.Parallel()
	l, _, clk := newLog(t)
	ctx := context.Background()
	const n = 230
	var want []string
	for i := range n {
		// Several messages share a time stamp: the ID orders them.
		if i%3 == 0 {
			clk.add(time.Millisecond)
		}
		id := fmt.Sprintf("m%03d", i)
		if err := l.Outbound(ctx, message.SMS, message.Outbound{ID: id, Channel: "sms", To: "+4917012345678", Text: fmt.Sprintf("Nachricht %d", i)}, ""); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	slices.Reverse(want)
	for _, limit := range []int{1, 7, 50, 229, 230, 500} {
		var got []string
		cursor := ""
		pages := 0
		for {
			p, err := l.Search(ctx, Query{Limit: limit, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(p.Items) == 0 || len(p.Items) > limit {
				t.Fatalf("limit %d: page %d has %d items", limit, pages, len(p.Items))
			}
			got = append(got, ids(p)...)
			// A status change and a newer message between pages move nothing.
			if pages == 2 {
				_ = l.Status(ctx, message.StatusEvent{ID: p.Items[0].ID, Status: message.Delivered})
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: %d ids over %d pages, want %d in order", limit, len(got), pages, len(want))
		}
		if wantPages := (n + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d (no empty last page)", limit, pages, wantPages)
		}
	}
	// Filtered pages too.
	var got []string
	cursor := ""
	for {
		p, err := l.Search(ctx, Query{Text: "nachricht 1", Limit: 4, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p)...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	// "Nachricht 1", "Nachricht 10".."19", "Nachricht 100".."199": 111.
	if len(got) != 111 || got[0] != "m199" || got[len(got)-1] != "m001" {
		t.Fatalf("filtered pages: %d ids, %v … %v", len(got), got[:1], got[len(got)-1:])
	}
	// Default and maximum page sizes; a cursor Search did not make.
	if p, _ := l.Search(ctx, Query{}); len(p.Items) != DefaultLimit {
		t.Errorf("default limit: %d", len(p.Items))
	}
	if _, err := l.Search(ctx, Query{Cursor: "not-a-cursor!"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	if _, err := l.Search(ctx, Query{Cursor: "bWVoCg"}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("forged cursor: %v", err)
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	l, st, clk := newLog(t)
	ctx := context.Background()
	start := clk.Now()
	for i := range 2500 {
		clk.add(time.Minute)
		if err := l.Outbound(ctx, message.SMS, message.Outbound{ID: fmt.Sprintf("m%d", i), Channel: "sms", To: "+491701", Text: "x"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	cut := start.Add(1200*time.Minute + 30*time.Second) // after m0 … m1199
	n, err := l.Prune(ctx, cut)
	if err != nil || n != 1200 {
		t.Fatalf("pruned %d (%v), want 1200", n, err)
	}
	if e, i := count(t, st); e != 1300 || i != 1300 {
		t.Fatalf("left %d entries, %d ids; want 1300", e, i)
	}
	if _, err := l.Get(ctx, "m1199"); !errors.Is(err, ErrNotFound) {
		t.Errorf("pruned entry still there: %v", err)
	}
	if _, err := l.Get(ctx, "m1200"); err != nil {
		t.Errorf("kept entry: %v", err)
	}
	// A pruned ID may be recorded again (it is a new message to the log).
	if err := l.Status(ctx, message.StatusEvent{ID: "m5", Status: message.Sent}); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Prune(ctx, cut); n != 0 {
		t.Errorf("second prune deleted %d", n)
	}
	// Run prunes at once with the retention.
	clk.add(24 * time.Hour)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx, 24*time.Hour) }()
	testkit.Eventually(t, "Run to prune", func() bool { e, _ := count(t, st); return e < 1300 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Queued is written in the caller's transaction: rolled back with it, the
// message is not in the log.
func TestQueuedInCallersTransaction(t *testing.T) {
	t.Parallel()
	l, st, clk := newLog(t)
	o := message.Outbound{ID: "cli-9", Channel: "sms", To: "+491701", Text: "x"}
	boom := errors.New("boom")
	err := st.Update(func(txn *store.Txn) error {
		if err := l.Queued(txn, message.SMS, o, "", clk.Now()); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := l.Get(context.Background(), o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled-back message in the log: %v", err)
	}
	if err := st.Update(func(txn *store.Txn) error { return l.Queued(txn, message.SMS, o, "", clk.Now()) }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(context.Background(), o.ID); err != nil {
		t.Fatal(err)
	}
}

// Since (inclusive) and Until (exclusive) bound the recording time, also
// across pages and together with the other filters.
func TestSearchTimeRange(t *testing.T) {
	t.Parallel()
	l, _, clk := newLog(t)
	seed(t, l, clk)
	ctx := context.Background()
	at := func(id string) time.Time {
		e, err := l.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return e.Created
	}
	x1, x4 := at("x1"), at("x4")
	cases := []struct {
		name string
		q    Query
		want []string
	}{
		{"since x4", Query{Since: x4}, []string{"x5", "x4"}},
		{"until x4", Query{Until: x4}, []string{"x3", "x2", "x1", "x0"}},
		{"x1 to x4", Query{Since: x1, Until: x4}, []string{"x3", "x2", "x1"}},
		{"range and filter", Query{Since: x1, Until: x4, Direction: In}, []string{"x2"}},
		{"range and text", Query{Since: x1, Text: "+4917011111111"}, []string{"x1"}},
		{"empty range", Query{Since: x4, Until: x4}, nil},
		{"a range after everything", Query{Since: at("x5").Add(time.Second)}, nil},
	}
	for _, c := range cases {
		p, err := l.Search(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(ids(p), c.want) || p.Next != "" {
			t.Errorf("%s: %v next=%q, want %v", c.name, ids(p), p.Next, c.want)
		}
	}
	// Pages of one inside the range walk it and stop at its start.
	var got []string
	q := Query{Since: x1, Until: x4, Limit: 1}
	for range 5 {
		p, err := l.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p)...)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if want := []string{"x3", "x2", "x1"}; !slices.Equal(got, want) {
		t.Errorf("paged range: %v, want %v", got, want)
	}
}

// Statuses (a batch of events in one transaction, as the SMS pool's
// outbox hands them over) ends where Status one event at a time ends,
// including the status index the search filters by, with several events
// of one message in one batch; a batch of only unknown IDs stores nothing.
func TestStatusesBatchLikeOneByOne(t *testing.T) {
	t.Parallel()
	l, st, _ := newLog(t)
	ctx := context.Background()
	seqs := [][]message.Status{
		{message.Sending, message.Sent, message.Delivered},
		{message.Sending, message.Delivered, message.Sent},
		{message.Sending, message.Sent, message.Failed},
		{message.Sent, message.Unknown},
	}
	var batch []message.StatusEvent
	for i, evs := range seqs {
		for _, mode := range []string{"one", "batch"} {
			id := fmt.Sprintf("%s%d", mode, i)
			if err := l.Outbound(ctx, message.SMS, message.Outbound{ID: id, Channel: "sms", To: "+491701", Text: id}, ""); err != nil {
				t.Fatal(err)
			}
			for _, s := range evs {
				ev := message.StatusEvent{ID: id, Status: s, Sender: "sim1"}
				if s == message.Failed {
					ev.Reason, ev.Code = "CMS ERROR 38", "38"
				}
				if mode == "batch" {
					batch = append(batch, ev)
				} else if err := l.Status(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	batch = append(batch, message.StatusEvent{ID: "ghost", Status: message.Sent})
	before := st.Commits()
	if err := l.Statuses(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n := st.Commits() - before; n != 1 {
		t.Fatalf("%d transactions for one batch, want 1", n)
	}
	for i := range seqs {
		one, _ := l.Get(ctx, fmt.Sprintf("one%d", i))
		b, _ := l.Get(ctx, fmt.Sprintf("batch%d", i))
		if one.Status != b.Status || one.Reason != b.Reason || one.Code != b.Code || one.Local != b.Local {
			t.Errorf("case %d: one by one %s %q %q %q, batch %s %q %q %q", i, one.Status, one.Reason, one.Code, one.Local, b.Status, b.Reason, b.Code, b.Local)
		}
	}
	for _, s := range []message.Status{message.Delivered, message.Failed, message.Sent, message.Sending, message.Unknown} {
		p, err := l.Search(ctx, Query{Status: s})
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, e := range p.Items {
			n[e.ID[:len(e.ID)-1]]++
		}
		if n["one"] != n["batch"] {
			t.Errorf("status %s: index finds %d one by one, %d batched", s, n["one"], n["batch"])
		}
	}
	before = st.Commits()
	if err := l.Statuses(ctx, []message.StatusEvent{{ID: "ghost", Status: message.Sent}}); err != nil || st.Commits() != before {
		t.Fatalf("unknown IDs only: %v, %d transactions", err, st.Commits()-before)
	}
}
