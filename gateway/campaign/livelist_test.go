package campaign

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// The seed's contact list (001): a debtors list sorted so that the highest
// debts are messaged first, filtered to one city.
const listCSV = `name,phone,amount_owed,due,city
Anna,+4915110000001,120.50,2017-12-25,Berlin
Bernd,+4915110000002,1500,2017-01-03,Hamburg
Clara,+4915110000003,99,2016-12-31,Berlin
Dieter,+4915110000004,,2018-02-01,Berlin
Eva,+4915110000005,1500,2017-01-03,Berlin
`

func listEnv(t *testing.T, cfg Config) (*env, *testChannel, *recipients.ContactLists) {
	t.Helper()
	ch := newTestChannel("sms", newLedger())
	h := &envLists{}
	cfg.Lists = h
	ev := newEnv(t, "", cfg, ch)
	h.l = recipients.NewContactLists(ev.st)
	if _, _, err := h.l.ImportCSV(context.Background(), "debtors", strings.NewReader(listCSV), recipients.CSVOptions{Region: "DE"}, false); err != nil {
		t.Fatal(err)
	}
	return ev, ch, h.l
}

// envLists lets the engine use the contact lists of the store newEnv
// opens (set before any campaign exists).
type envLists struct{ l *recipients.ContactLists }

func (h *envLists) Select(ctx context.Context, name string, after uint64, q recipients.Query) (recipients.Selection, error) {
	return h.l.Select(ctx, name, after, q)
}

func sentNames(ch *testChannel) []string {
	var out []string
	for _, m := range ch.sends() {
		out = append(out, strings.SplitN(strings.TrimPrefix(m.Text, "Hallo "), ",", 2)[0])
	}
	return out
}

func TestListCampaignFilteredAndSorted(t *testing.T) {
	t.Parallel()
	ev, ch, _ := listEnv(t, Config{})
	spec := smsSpec("debts", "sms", "now")
	spec.Content.Text = "Hallo {{name}}, offen: {{amount_owed}} EUR"
	spec.List = &ListSource{Name: "debtors", Query: recipients.Query{
		Filters: []recipients.Filter{{Column: "city", Op: recipients.OpEquals, Value: "berlin"}, {Column: "amount_owed", Op: recipients.OpNotEmpty}},
		Sort:    []recipients.SortKey{{Column: "amount_owed", Descending: true, Numeric: true}, {Column: "name"}},
	}}
	c, err := ev.e.CreateFromList(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if c.Recipients != 3 || c.Spec.List.Cursor != 5 {
		t.Fatalf("recipients %d cursor %d", c.Recipients, c.Spec.List.Cursor)
	}
	ev.waitState(c.ID, Completed)
	if got, want := sentNames(ch), []string{"Eva", "Anna", "Clara"}; !slices.Equal(got, want) {
		t.Fatalf("sent to %v, want %v (filtered to Berlin with a debt, highest first)", got, want)
	}
	// Saved with the campaign.
	if got := ev.get(c.ID).Spec.List; got == nil || len(got.Query.Filters) != 2 || len(got.Query.Sort) != 2 {
		t.Fatalf("stored list source %+v", got)
	}
	// Bad filters are refused before anything is stored.
	bad := smsSpec("bad", "sms", "now")
	bad.List = &ListSource{Name: "debtors", Query: recipients.Query{Filters: []recipients.Filter{{Column: "amount_owed", Op: recipients.OpGreater, Value: "lots", Numeric: true}}}}
	_, err = ev.e.CreateFromList(context.Background(), bad)
	mustErr(t, err, ErrInvalid)
	mustErr(t, err, recipients.ErrQuery)
	none := smsSpec("none", "sms", "now")
	none.List = &ListSource{Name: "debtors", Query: recipients.Query{Filters: []recipients.Filter{{Column: "city", Op: recipients.OpEquals, Value: "Köln"}}}}
	_, err = ev.e.CreateFromList(context.Background(), none)
	mustErr(t, err, ErrInvalid)
	missing := smsSpec("missing", "sms", "now")
	missing.List = &ListSource{Name: "nope"}
	_, err = ev.e.CreateFromList(context.Background(), missing)
	mustErr(t, err, ErrInvalid)
}

func TestAlwaysRunningCampaignSendsToContactsAddedLater(t *testing.T) {
	t.Parallel()
	ev, ch, lists := listEnv(t, Config{})
	ctx := context.Background()
	spec := smsSpec("live", "sms", "now")
	spec.Content.Text = "Hallo {{name}}, bitte melden."
	spec.List = &ListSource{Name: "debtors", AlwaysRunning: true,
		Query: recipients.Query{Filters: []recipients.Filter{{Column: "city", Op: recipients.OpEquals, Value: "Berlin"}}}}
	c, err := ev.e.CreateFromList(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor("the first four sent", func() bool { return ev.get(c.ID).Counts.Sent == 4 })
	if st := ev.get(c.ID).State; st != Running {
		t.Fatalf("always-running campaign is %s after sending to everyone, want running", st)
	}
	// Added through the API: one in Berlin, one elsewhere (filtered out),
	// one already sent to (the list skips it as a duplicate).
	_, res, err := lists.Append(ctx, "debtors", []recipients.Recipient{
		{Number: "+4915110000006", Vars: map[string]string{"name": "Frank", "city": "Berlin"}},
		{Number: "+4915110000007", Vars: map[string]string{"name": "Gina", "city": "Bonn"}},
		{Number: "+4915110000001", Vars: map[string]string{"name": "Anna", "city": "Berlin"}},
	}, "DE")
	if err != nil || len(res.Duplicates) != 1 {
		t.Fatalf("append: %v %+v", err, res)
	}
	ev.e.ListChanged("debtors")
	ev.waitFor("Frank sent", func() bool { return ev.get(c.ID).Counts.Sent == 5 })
	// A CSV import that replaces the list: the one new Berlin contact is
	// taken, the numbers already sent to are not sent again.
	if _, _, err := lists.ImportCSV(ctx, "debtors", strings.NewReader("name,phone,city\nAnna,+4915110000001,Berlin\nHanna,+4915110000008,Berlin\n"), recipients.CSVOptions{Region: "DE"}, true); err != nil {
		t.Fatal(err)
	}
	ev.e.ListChanged("debtors")
	ev.waitFor("Hanna sent", func() bool { return ev.get(c.ID).Counts.Sent == 6 })
	// Without a notification the campaign still looks at its list.
	if _, _, err := lists.Append(ctx, "debtors", []recipients.Recipient{{Number: "+4915110000009", Vars: map[string]string{"name": "Ida", "city": "Berlin"}}}, "DE"); err != nil {
		t.Fatal(err)
	}
	// (The dispatcher may not be waiting on the clock yet: advance until.)
	for i := 0; i < 1000 && ev.get(c.ID).Counts.Sent != 7; i++ {
		ev.clk.Advance(listPoll)
		time.Sleep(5 * time.Millisecond)
	}
	ev.waitFor("Ida sent", func() bool { return ev.get(c.ID).Counts.Sent == 7 })
	got := ev.get(c.ID)
	if got.State != Running || got.Recipients != 7 {
		t.Fatalf("state %s recipients %d", got.State, got.Recipients)
	}
	if want := []string{"Anna", "Clara", "Dieter", "Eva", "Frank", "Hanna", "Ida"}; !slices.Equal(sentNames(ch), want) {
		t.Fatalf("sent %v, want %v", sentNames(ch), want)
	}
	for n, k := range ch.led.perNumber() {
		if k != 1 {
			t.Errorf("%s got %d messages", n, k)
		}
	}
	// Until it is stopped.
	if _, err := ev.e.Stop(ctx, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := lists.Append(ctx, "debtors", []recipients.Recipient{{Number: "+4915110000010", Vars: map[string]string{"name": "Jan", "city": "Berlin"}}}, "DE"); err != nil {
		t.Fatal(err)
	}
	ev.e.ListChanged("debtors")
	ev.clk.Advance(listPoll)
	if got := ev.get(c.ID); got.State != Stopped || got.Recipients != 7 || len(ch.sends()) != 7 {
		t.Fatalf("after stop: %s, %d recipients, %d sends", got.State, got.Recipients, len(ch.sends()))
	}
	// Resumed, it takes Jan.
	if _, err := ev.e.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	ev.waitFor("Jan sent", func() bool { return ev.get(c.ID).Counts.Sent == 8 })
}

// Seed 001: an always-running campaign also runs "when there are currently
// no contacts in the list" and waits for them.
func TestAlwaysRunningCampaignStartsWithNoMatchingContact(t *testing.T) {
	t.Parallel()
	ev, ch, lists := listEnv(t, Config{})
	ctx := context.Background()
	spec := smsSpec("waiting", "sms", "now")
	spec.Content.Text = "Hallo {{name}}"
	spec.List = &ListSource{Name: "debtors", AlwaysRunning: true,
		Query: recipients.Query{Filters: []recipients.Filter{{Column: "city", Op: recipients.OpEquals, Value: "Köln"}}}}
	c, err := ev.e.CreateFromList(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if c.Recipients != 0 || c.State != Running {
		t.Fatalf("%s with %d recipients", c.State, c.Recipients)
	}
	if _, _, err := lists.Append(ctx, "debtors", []recipients.Recipient{{Number: "+4915110000011", Vars: map[string]string{"name": "Kai", "city": "Köln"}}}, "DE"); err != nil {
		t.Fatal(err)
	}
	ev.e.ListChanged("debtors")
	ev.waitFor("Kai sent", func() bool { return ev.get(c.ID).Counts.Sent == 1 })
	if got := sentNames(ch); len(got) != 1 || got[0] != "Kai" || ev.get(c.ID).State != Running {
		t.Fatalf("sent %v, state %s", got, ev.get(c.ID).State)
	}
	// Without "always running" an empty selection is refused.
	spec.Name, spec.List.AlwaysRunning = "once", false
	spec.List.Query.Filters[0].Value = "Bonn"
	_, err = ev.e.CreateFromList(ctx, spec)
	mustErr(t, err, ErrInvalid)
}

// An always-running campaign would hold its channel for ever; it does not
// make the channel's other campaigns wait (pending), nor wait for them.
func TestAlwaysRunningCampaignDoesNotHoldTheChannel(t *testing.T) {
	t.Parallel()
	ev, _, _ := listEnv(t, Config{})
	spec := smsSpec("live", "sms", "now")
	spec.Content.Text = "Hallo {{name}}"
	spec.List = &ListSource{Name: "debtors", AlwaysRunning: true}
	live, err := ev.e.CreateFromList(bg, spec)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor("the list sent", func() bool { return ev.get(live.ID).Counts.Sent == 5 })
	other, err := ev.e.Create(bg, smsSpec("other", "sms", "now"), numbers(2))
	if err != nil {
		t.Fatal(err)
	}
	if other.State != Running {
		t.Fatalf("a campaign next to an always-running one is %s, want running", other.State)
	}
	ev.waitState(other.ID, Completed)
	// And a second always-running campaign starts while a normal one
	// holds the channel.
	slow := smsSpec("slow", "sms", "now")
	slow.Throttle = 1
	held, err := ev.e.Create(bg, slow, numbers(3))
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = "live 2"
	live2, err := ev.e.CreateFromList(bg, spec)
	if err != nil {
		t.Fatal(err)
	}
	if ev.get(held.ID).State != Running || live2.State != Running {
		t.Fatalf("states %s, %s", ev.get(held.ID).State, live2.State)
	}
}

// A deleted contact list stops its always-running campaign with the reason.
func TestAlwaysRunningCampaignStopsWhenItsListIsDeleted(t *testing.T) {
	t.Parallel()
	ev, _, lists := listEnv(t, Config{})
	spec := smsSpec("live", "sms", "now")
	spec.Content.Text = "Hallo {{name}}"
	spec.List = &ListSource{Name: "debtors", AlwaysRunning: true}
	c, err := ev.e.CreateFromList(bg, spec)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor("the list sent", func() bool { return ev.get(c.ID).Counts.Sent == 5 })
	if err := lists.Delete(bg, "debtors"); err != nil {
		t.Fatal(err)
	}
	ev.e.ListChanged("debtors")
	got := ev.waitState(c.ID, Stopped)
	if !strings.Contains(got.Reason, `contact list "debtors"`) || got.ReasonCode.Code != "campaign.list_error" {
		t.Fatalf("reason %q %+v", got.Reason, got.ReasonCode)
	}
}
