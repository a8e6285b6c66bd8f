package consent

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Both users of the blacklist see Consent through their own interface.
var (
	_ recipients.Blocker = (*Consent)(nil)
	_ campaign.Blocker   = (*Consent)(nil)
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir, Profile: store.Small})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newConsent(t *testing.T) (*Consent, *clock, string) {
	t.Helper()
	dir := t.TempDir()
	st := openStore(t, dir)
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	c, err := New(Config{Store: st, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return c, clk, dir
}

func TestStopWordsInEveryBuiltInLanguage(t *testing.T) {
	t.Parallel()
	c, _, _ := newConsent(t)
	// As contacts type them: any case, padded, with punctuation.
	for _, w := range []string{
		"STOP", "stop", " Stop! ", "Stopp", "HALT", "abmelden", "Austragen.", "ABBESTELLEN", "kündigen", "KÜNDIGEN",
		"unsubscribe", "Cancel", "end", "QUIT", "opt  out", "OPTOUT", "stopall",
		"стоп", "СТОП", "Отписаться", "отписка", "стоп все",
		"arrêt", "ARRET", "désabonner", "baja", "Alto", "cancelar", "basta", "disiscrivi",
		"afmelden", "uitschrijven", "wypisz", "rezygnuję", "İptal", "iptal", "dur",
	} {
		if !c.IsStopWord(w) {
			t.Errorf("%q is not recognised as opt-out", w)
		}
		if c.IsStartWord(w) {
			t.Errorf("%q is taken as opt-in", w)
		}
	}
	for _, w := range DefaultStopWords() {
		if !c.IsStopWord(strings.ToLower(w)) {
			t.Errorf("built-in %q not recognised in lower case", w)
		}
	}
	for _, w := range []string{"stop the music", "please stop sending", "Stoppschild", "top", "", "   "} {
		if c.IsStopWord(w) {
			t.Errorf("%q is taken as opt-out: only the whole message counts", w)
		}
	}
	for _, w := range []string{"START", "start", " Anmelden ", "старт", "Подписаться"} {
		if !c.IsStartWord(w) {
			t.Errorf("%q is not recognised as opt-in", w)
		}
	}
}

func TestConfiguredWordsReplaceDefaults(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	defer st.Close()
	c, err := New(Config{Store: st, StopWords: []string{"Schluss jetzt"}, StartWords: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsStopWord("SCHLUSS   JETZT") || c.IsStopWord("STOP") || c.IsStartWord("START") {
		t.Error("configured words do not replace the built-in ones")
	}
	if _, err := New(Config{Store: st, StopWords: []string{"stop"}, StartWords: []string{"STOP"}}); err == nil {
		t.Error("a word that is both stop and start is accepted")
	}
}

func TestOptOutBlocksUntilOptInAndSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openStore(t, dir)
	ctx := context.Background()
	c, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, blocked := c.Blocked(ctx, "+49 151 1234567"); blocked {
		t.Fatal("blocked before opting out")
	}
	if err := c.OptOut(ctx, "+491511234567", "stopp", "sms1"); err != nil {
		t.Fatal(err)
	}
	// The same contact as WhatsApp writes it, and typed with 00.
	for _, n := range []string{"491511234567", "0049 151 1234567", "+49-151-1234567"} {
		if reason, blocked := c.Blocked(ctx, n); !blocked || !strings.Contains(reason, "opted out (stopp)") {
			t.Errorf("%s: blocked=%v reason %q", n, blocked, reason)
		}
	}
	if os := c.OptOuts(ctx); len(os) != 1 || os[0].Number != "491511234567" || os[0].Keyword != "stopp" || os[0].Channel != "sms1" {
		t.Errorf("opt-outs %+v", os)
	}
	if _, blocked := c.ReceiveBlocked(ctx, "+491511234567"); blocked {
		t.Error("an opt-out must not stop the contact's own messages (they need to send START)")
	}
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	c, err = New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, blocked := c.Blocked(ctx, "+491511234567"); !blocked {
		t.Fatal("opt-out lost on restart")
	}
	if was, err := c.OptIn(ctx, "491511234567"); err != nil || !was {
		t.Fatalf("opt-in: %v %v", was, err)
	}
	if _, blocked := c.Blocked(ctx, "+491511234567"); blocked {
		t.Error("still blocked after opting in")
	}
	if os := c.OptOuts(ctx); len(os) != 0 {
		t.Errorf("opt-outs after opt-in: %+v", os)
	}
	if was, _ := c.OptIn(ctx, "+491511234567"); was {
		t.Error("second opt-in reports an opt-out")
	}
}

func TestTemporaryBlacklistExpires(t *testing.T) {
	t.Parallel()
	c, clk, _ := newConsent(t)
	ctx := context.Background()
	e, err := c.Block(ctx, Entry{Number: "+4930111", Direction: Both, Until: clk.now().Add(2 * time.Hour), Reason: "Beschwerde"})
	if err != nil {
		t.Fatal(err)
	}
	if reason, blocked := c.Blocked(ctx, "+4930111"); !blocked || !strings.Contains(reason, "Beschwerde") || !strings.Contains(reason, "until") {
		t.Errorf("blocked=%v %q", blocked, reason)
	}
	if _, blocked := c.ReceiveBlocked(ctx, "4930111"); !blocked {
		t.Error("both must block receiving")
	}
	clk.add(2*time.Hour - time.Second)
	if _, blocked := c.Blocked(ctx, "+4930111"); !blocked {
		t.Error("expired a second early")
	}
	clk.add(time.Second)
	if _, blocked := c.Blocked(ctx, "+4930111"); blocked {
		t.Error("still blocked at the expiry")
	}
	if len(c.Blacklist(ctx)) != 0 {
		t.Error("expired entry still listed")
	}
	if n, err := c.PurgeExpired(ctx); err != nil || n != 1 {
		t.Errorf("purge: %d %v", n, err)
	}
	if err := c.Unblock(ctx, e.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("unblock purged entry: %v", err)
	}
}

func TestBlacklistDirectionsAndPrefixes(t *testing.T) {
	t.Parallel()
	c, _, _ := newConsent(t)
	ctx := context.Background()
	if _, err := c.Block(ctx, Entry{Prefix: "+49900", Direction: Send}); err != nil {
		t.Fatal(err)
	}
	recv, err := c.Block(ctx, Entry{Number: "+4917000000", Direction: Receive, Reason: "spam"})
	if err != nil {
		t.Fatal(err)
	}
	if _, b := c.Blocked(ctx, "+499001234"); !b {
		t.Error("prefix does not block sending")
	}
	if _, b := c.ReceiveBlocked(ctx, "+499001234"); b {
		t.Error("send-only prefix blocks receiving")
	}
	if _, b := c.Blocked(ctx, "+4990"); b {
		t.Error("a shorter number matches a longer prefix")
	}
	if _, b := c.Blocked(ctx, "+4917000000"); b {
		t.Error("receive-only entry blocks sending")
	}
	if r, b := c.ReceiveBlocked(ctx, "+4917000000"); !b || !strings.Contains(r, "spam") {
		t.Error("receive entry does not block receiving")
	}
	if r, b := c.SendBlacklisted(ctx, "+499001"); !b || !strings.Contains(r, "prefix +49900") {
		t.Errorf("SendBlacklisted: %v %q", b, r)
	}
	if err := c.Unblock(ctx, recv.ID); err != nil {
		t.Fatal(err)
	}
	if _, b := c.ReceiveBlocked(ctx, "+4917000000"); b {
		t.Error("unblocked number still blocked")
	}
	for _, bad := range []Entry{
		{},
		{Number: "+491", Prefix: "+49"},
		{Number: "+491", Direction: "sideways"},
		{Number: "abc"},
		{Number: "+491", Until: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if _, err := c.Block(ctx, bad); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("%+v accepted: %v", bad, err)
		}
	}
}

func TestGroupsJoinLeaveAndRecipientsSkipOptedOut(t *testing.T) {
	t.Parallel()
	c, _, _ := newConsent(t)
	ctx := context.Background()
	if _, err := c.CreateGroup(ctx, "Angebote", "Wochenangebote"); err != nil {
		t.Fatal(err)
	}
	if err := c.Join(ctx, "Angebote", "+491511111111", "manual"); err != nil {
		t.Fatal(err)
	}
	if err := c.Join(ctx, "Angebote", "491522222222", "click-to-chat"); err != nil { // WhatsApp id
		t.Fatal(err)
	}
	if err := c.Join(ctx, "Angebote", "+491533333333", "keyword"); err != nil {
		t.Fatal(err)
	}
	if err := c.Join(ctx, "Angebote", "+491533333333", "keyword"); err != nil {
		t.Fatal("joining twice:", err)
	}
	if err := c.OptOut(ctx, "+491511111111", "STOP", "sms"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Block(ctx, Entry{Number: "+491533333333", Direction: Send}); err != nil {
		t.Fatal(err)
	}
	send, excl, err := c.Recipients(ctx, "Angebote")
	if err != nil {
		t.Fatal(err)
	}
	if len(send) != 1 || send[0].Number != "+491522222222" {
		t.Errorf("recipients %+v", send)
	}
	if len(excl) != 2 || !strings.Contains(excl[0].Excluded+excl[1].Excluded, "opted out") || !strings.Contains(excl[0].Excluded+excl[1].Excluded, "blacklisted") {
		t.Errorf("excluded %+v", excl)
	}
	// Joining by keyword is asking for messages: it ends an opt-out.
	if err := c.Join(ctx, "Angebote", "+491511111111", "keyword"); err != nil {
		t.Fatal(err)
	}
	if _, b := c.Blocked(ctx, "+491511111111"); b {
		t.Error("keyword join did not end the opt-out")
	}
	if err := c.Leave(ctx, "Angebote", "491522222222"); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(ctx, "Angebote", "491522222222"); err != nil {
		t.Error("leaving twice:", err)
	}
	ms, _ := c.Members(ctx, "Angebote")
	if len(ms) != 2 {
		t.Errorf("members after leave: %+v", ms)
	}
	if ok, err := c.HasGroup(ctx, "Angebote"); !ok || err != nil {
		t.Errorf("HasGroup: %v %v", ok, err)
	}
	if ok, err := c.HasGroup(ctx, "Nope"); ok || err != nil {
		t.Errorf("HasGroup(Nope): %v %v", ok, err)
	}
	if err := c.Join(ctx, "Nope", "+491", "keyword"); !errors.Is(err, ErrNoGroup) {
		t.Errorf("join missing group: %v", err)
	}
	if _, err := c.CreateGroup(ctx, "a/b", ""); !errors.Is(err, ErrInvalidGroup) {
		t.Errorf("bad name: %v", err)
	}
	if err := c.DeleteGroup(ctx, "Angebote"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Members(ctx, "Angebote"); !errors.Is(err, ErrNoGroup) {
		t.Errorf("deleted group: %v", err)
	}
}

// The group list counts members and the excluded among them as of now;
// IsMember answers by canonical number; Members carries the excluded
// reason's code.
func TestGroupSummariesIsMemberAndExcludedCode(t *testing.T) {
	t.Parallel()
	c, _, _ := newConsent(t)
	ctx := context.Background()
	for _, g := range []string{"Angebote", "Angebote2", "Leer"} {
		if _, err := c.CreateGroup(ctx, g, "über "+g); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"+491511111111", "+491522222222", "+491533333333"} {
		if err := c.Join(ctx, "Angebote", n, SourceManual); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Join(ctx, "Angebote2", "+491544444444", SourceManual); err != nil {
		t.Fatal(err)
	}
	if err := c.OptOut(ctx, "+491511111111", "STOP", "sms"); err != nil {
		t.Fatal(err)
	}
	sums, err := c.GroupSummaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name              string
		members, excluded int
	}
	var got []row
	for _, s := range sums {
		got = append(got, row{s.Name, s.Members, s.Excluded})
		if s.Description != "über "+s.Name || s.Created.IsZero() {
			t.Errorf("summary %+v lacks the group's fields", s)
		}
	}
	want := []row{{"Angebote", 3, 1}, {"Angebote2", 1, 0}, {"Leer", 0, 0}}
	if len(got) != len(want) {
		t.Fatalf("summaries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("summary %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// Opting in again takes the member out of the excluded count.
	if _, err := c.OptIn(ctx, "+491511111111"); err != nil {
		t.Fatal(err)
	}
	if sums, _ := c.GroupSummaries(ctx); sums[0].Excluded != 0 {
		t.Errorf("after opt-in: %+v", sums[0])
	}

	for _, tc := range []struct {
		group, number string
		want          bool
	}{
		{"Angebote", "+491522222222", true},
		{"Angebote", "0049 152 2222222", true}, // same contact, other spelling
		{"Angebote", "+491544444444", false},   // in the other group
		{"Angebote2", "+491544444444", true},
		{"Leer", "+491522222222", false},
		{"Angebote", "", false},
	} {
		if got, err := c.IsMember(ctx, tc.group, tc.number); got != tc.want || err != nil {
			t.Errorf("IsMember(%q, %q) = %v, %v; want %v", tc.group, tc.number, got, err, tc.want)
		}
	}
	if _, err := c.IsMember(ctx, "Nope", "+491522222222"); !errors.Is(err, ErrNoGroup) {
		t.Errorf("IsMember in a missing group: %v", err)
	}

	if _, err := c.Block(ctx, Entry{Number: "+491533333333", Direction: Send, Reason: "Beschwerde"}); err != nil {
		t.Fatal(err)
	}
	ms, err := c.Members(ctx, "Angebote")
	if err != nil {
		t.Fatal(err)
	}
	var blocked Member
	for _, m := range ms {
		if m.Number == "+491533333333" {
			blocked = m
		} else if m.Excluded != "" || !m.ExcludedCode.IsZero() {
			t.Errorf("member %+v excluded", m)
		}
	}
	text, code, _ := c.BlockedReason(ctx, "+491533333333")
	if blocked.Excluded != text || blocked.ExcludedCode.Code != "consent.note" || blocked.ExcludedCode.Code != code.Code {
		t.Errorf("blocked member %+v, want %q %+v", blocked, text, code)
	}
}
