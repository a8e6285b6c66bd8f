package rules

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

const anna = "+4915112345678"

func TestKeywordTypesOrderAndContinue(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "kündigung", Order: 10, Keyword: Define, Match: Regexp,
		Pattern: `(?i).*((Kündigung)|(gekündigt)).*`, Actions: answer("Schade! ({MSG})")})
	v.save(Rule{Name: "preis", Order: 20, Keyword: Define, Match: Contains, Pattern: "PREIS",
		Continue: true, Actions: answer("Preisliste folgt")})
	v.save(Rule{Name: "preis2", Order: 30, Keyword: Define, Match: Contains, Pattern: "preisliste",
		Actions: answer("Auch als PDF")})
	v.save(Rule{Name: "rest", Order: 1, Keyword: Rest, Actions: answer("Das habe ich nicht verstanden")})
	if _, err := v.e.Save(context.Background(), Rule{Name: "aus", Order: 5, Keyword: Always, Actions: answer("never")}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		text string
		want []string
	}{
		{"Ich habe GEKÜNDIGT", []string{"Schade! (Ich habe GEKÜNDIGT)"}},
		{"Was ist der Preis?", []string{"Preisliste folgt"}},                   // continue, preis2 does not match
		{"Bitte die PREISLISTE", []string{"Preisliste folgt", "Auch als PDF"}}, // continue into the next match
		{"Hallo", []string{"Das habe ich nicht verstanden"}},                   // rest only when nothing fired
	} {
		v.out.replies = nil
		res := v.handle(anna, c.text)
		if got := v.out.texts(); !slices.Equal(got, c.want) {
			t.Errorf("%q: replies %q, want %q (fired %v)", c.text, got, c.want, res.Fired)
		}
	}
	// always wins before the keyword rules when ordered first.
	v.save(Rule{Name: "immer", Order: 0, Keyword: Always, Actions: answer("Danke für {NICKNAME}s Nachricht")})
	v.out.replies = nil
	v.handle(anna, "Preis")
	if got := v.out.texts(); !slices.Equal(got, []string{"Danke für Annas Nachricht"}) {
		t.Errorf("always: %q", got)
	}
}

func TestContainsIsCaseFoldedUnlessCaseSensitive(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "straße", Order: 1, Keyword: Define, Match: Contains, Pattern: "ОТМЕНА", Actions: answer("ru")})
	v.save(Rule{Name: "exact", Order: 2, Keyword: Define, Match: Contains, Pattern: "VIP", CaseSensitive: true, Actions: answer("vip")})
	for text, want := range map[string]string{"хочу отмена заказа": "ru", "VIP bitte": "vip", "vip bitte": ""} {
		v.out.replies = nil
		v.handle(anna, text)
		if got := strings.Join(v.out.texts(), ""); got != want {
			t.Errorf("%q: %q, want %q", text, got, want)
		}
	}
}

func TestTimeWindowAcrossMidnightAndDays(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "friday night", Order: 1, Keyword: Always, Window: &Window{Start: "22:00", End: "06:00", Wrap: true},
		Days: []Day{"fri"}, Actions: answer("night")})
	v.save(Rule{Name: "office", Order: 2, Keyword: Always, Window: &Window{Start: "08:00", End: "17:00"},
		Days: []Day{"mon", "tue", "wed", "thu", "fri"}, Actions: answer("office")})
	v.save(Rule{Name: "closed", Order: 3, Keyword: Rest, Actions: answer("closed")})

	fri := time.Date(2026, 3, 6, 0, 0, 0, 0, berlin) // Friday
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{fri.Add(23 * time.Hour), "night"},
		{fri.Add(24*time.Hour + 3*time.Hour), "night"},    // Saturday 03:00 belongs to Friday's night
		{fri.Add(24*time.Hour + 6*time.Hour), "closed"},   // end is exclusive
		{fri.Add(3 * time.Hour), "closed"},                // Friday 03:00 is Thursday's night
		{fri.Add(-24*time.Hour + 23*time.Hour), "closed"}, // Thursday 23:00
		{fri.Add(24*time.Hour + 23*time.Hour), "closed"},  // Saturday 23:00
		{fri.Add(8 * time.Hour), "office"},                // window start inclusive
		{fri.Add(16*time.Hour + 59*time.Minute), "office"},
		{fri.Add(17 * time.Hour), "closed"},
		{fri.Add(3*24*time.Hour + 9*time.Hour), "office"},        // Monday
		{fri.Add(2*24*time.Hour + 9*time.Hour), "closed"},        // Sunday
		{time.Date(2026, 3, 6, 21, 30, 0, 0, time.UTC), "night"}, // 22:30 in Berlin: zones convert
	} {
		v.out.replies = nil
		v.handleIn(message.Inbound{ID: "w" + c.at.Format(time.RFC3339), Kind: message.SMS, Channel: "sms1", From: anna, Text: "hi", At: c.at})
		if got := strings.Join(v.out.texts(), ","); got != c.want {
			t.Errorf("%s: %q, want %q", c.at.In(berlin).Format("Mon 15:04"), got, c.want)
		}
	}
}

func TestChannelAndKindLimits(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "wa", Order: 1, Keyword: Always, Kinds: []message.Kind{message.WhatsApp}, Actions: answer("wa")})
	v.save(Rule{Name: "sms2", Order: 2, Keyword: Always, Channels: []string{"sms2"}, Actions: answer("sms2")})
	v.save(Rule{Name: "rest", Order: 3, Keyword: Rest, Actions: answer("rest")})
	for _, c := range []struct {
		kind    message.Kind
		channel string
		want    string
	}{{message.WhatsApp, "wa1", "wa"}, {message.SMS, "sms2", "sms2"}, {message.SMS, "sms1", "rest"}} {
		v.out.replies = nil
		v.handleIn(message.Inbound{ID: "k-" + c.channel, Kind: c.kind, Channel: c.channel, From: anna, Text: "x", At: v.clk.Now()})
		if got := strings.Join(v.out.texts(), ","); got != c.want {
			t.Errorf("%s/%s: %q want %q", c.kind, c.channel, got, c.want)
		}
	}
}

func TestRateLimitPerContactSurvivesRestart(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "welcome", Order: 1, Keyword: Always, Limit: &Limit{Count: 2, Period: Duration(24 * time.Hour)},
		Actions: answer("welcome")})
	v.save(Rule{Name: "rest", Order: 2, Keyword: Rest, Actions: answer("rest")})
	bob := "+491700000001"
	got := func(from string) string {
		v.out.replies = nil
		v.handle(from, "hi")
		return strings.Join(v.out.texts(), ",")
	}
	if a, b := got(anna), got(anna); a != "welcome" || b != "welcome" {
		t.Fatalf("first two: %q %q", a, b)
	}
	if g := got(anna); g != "rest" {
		t.Errorf("third within 24h: %q, want rest", g)
	}
	if g := got(bob); g != "welcome" {
		t.Errorf("another contact: %q", g)
	}
	v.restart()
	v.clk.Add(23 * time.Hour)
	if g := got(anna); g != "rest" {
		t.Errorf("after restart, within 24h: %q (counter lost?)", g)
	}
	v.clk.Add(time.Hour + time.Second)
	if g := got(anna); g != "welcome" {
		t.Errorf("after the period: %q", g)
	}
}

func TestBuiltInOptOutInEveryLanguageThenOptIn(t *testing.T) {
	t.Parallel()
	v := newEnv(t, func(c *Config) { c.StopReply = "Abgemeldet, {NICKNAME}." })
	v.save(Rule{Name: "always", Order: 1, Keyword: Always, Actions: answer("should not run for STOP")})
	ctx := context.Background()
	words := []string{"STOP", "Stopp", "halt", "ABMELDEN", "austragen", "Unsubscribe", "cancel", "END", "quit",
		"СТОП", "отписаться", "Отписка", "arrêt", "baja", "basta", "afmelden", "wypisz", "iptal"}
	for i, w := range words {
		from := "+4917100000" + itoa2(i)
		v.out.replies = nil
		res := v.handle(from, "  "+w+"  ")
		if res.Consent != "opt_out" || len(res.Outcomes) != 1 || res.Outcomes[0].Status != Done {
			t.Errorf("%q: consent %q outcomes %+v", w, res.Consent, res.Outcomes)
		}
		if reason, blocked := v.cs.Blocked(ctx, from); !blocked || !strings.Contains(reason, "opted out") {
			t.Errorf("%q: not blocked for campaigns", w)
		}
		if got := v.out.texts(); !slices.Equal(got, []string{"Abgemeldet, ."}) {
			t.Errorf("%q: confirmation %q", w, got)
		}
	}
	v.out.replies = nil
	res := v.handle("+491710000000", "Start")
	if res.Consent != "opt_in" {
		t.Fatalf("START: %+v", res)
	}
	if _, blocked := v.cs.Blocked(ctx, "+491710000000"); blocked {
		t.Error("still blocked after START")
	}
	if got := v.out.texts(); len(got) != 1 || got[0] != DefaultStartReply {
		t.Errorf("start confirmation %q", got)
	}
}

func itoa2(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestReceiveBlacklistStopsRulesButKeepsMessage(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "always", Order: 1, Keyword: Always, Actions: answer("hi")})
	ctx := context.Background()
	if _, err := v.cs.Block(ctx, blockEntry("+49170", "receive")); err != nil {
		t.Fatal(err)
	}
	res := v.handle("+491709999999", "hello")
	if res.Blocked == "" || len(res.Outcomes) != 0 || len(v.out.replies) != 0 {
		t.Fatalf("blocked sender processed: %+v", res)
	}
	rec, err := v.e.Record(ctx, res.Inbound.ID)
	if err != nil || rec.Inbound.Text != "hello" || !rec.Finished {
		t.Fatalf("message of a blocked sender lost: %+v %v", rec, err)
	}
	// An opt-out is honoured even from a blocked sender; START is not.
	if res := v.handle("+491709999999", "START"); res.Blocked == "" || res.Consent != "" {
		t.Errorf("START from a blocked sender: %+v", res)
	}
	if res := v.handle("+491709999999", "STOP"); res.Consent != "opt_out" {
		t.Errorf("STOP from a blocked sender: %+v", res)
	}
	if _, optedOut := v.cs.OptedOut(ctx, "+491709999999"); !optedOut {
		t.Error("STOP from a blocked sender ignored")
	}
	v.out.replies = nil
	// Send-only blacklist: rules run, but no reply goes out.
	if _, err := v.cs.Block(ctx, blockEntry("+49160", "send")); err != nil {
		t.Fatal(err)
	}
	res = v.handle("+491601111111", "hello")
	if len(res.Outcomes) != 1 || res.Outcomes[0].Status != Skipped || len(v.out.replies) != 0 {
		t.Fatalf("reply to send-blocked: %+v", res.Outcomes)
	}
}

func TestLocalActions(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx := context.Background()
	if _, err := v.cs.CreateGroup(ctx, "news", ""); err != nil {
		t.Fatal(err)
	}
	v.save(Rule{Name: "join", Order: 1, Keyword: Define, Match: Regexp, Pattern: `(?i)^\s*join\s+news\s*$`,
		Actions: []Action{{Type: GroupAdd, Group: "news"}, {Type: AutoAnswer, Text: "Willkommen {first_name} aus {city}! {UNKNOWN}"}}})
	v.save(Rule{Name: "leave", Order: 2, Keyword: Define, Match: Contains, Pattern: "leave news",
		Actions: []Action{{Type: GroupRemove, Group: "news"}}})
	v.save(Rule{Name: "agent", Order: 3, Keyword: Define, Match: Contains, Pattern: "agent",
		Actions: []Action{{Type: RouteTo, RouteKind: "queue", RouteID: "support"}}})
	v.save(Rule{Name: "fwd", Order: 4, Keyword: Define, Match: Contains, Pattern: "notfall",
		Actions: []Action{{Type: SMSForward, Number: "+4930555"}}})
	v.save(Rule{Name: "media", Order: 5, Keyword: Define, Match: Contains, Pattern: "katalog",
		Actions: []Action{{Type: AutoAnswer, Media: &Media{Type: "document", URL: "https://example.com/k.pdf", Caption: "Katalog für {MSISDN}"}}}}) // netscope: a media link stored with the rule, never fetched
	v.save(Rule{Name: "ignore", Order: 6, Keyword: Define, Match: Contains, Pattern: "spam", Actions: []Action{{Type: DoNothing}}})
	v.save(Rule{Name: "unsub", Order: 7, Keyword: Define, Match: Contains, Pattern: "keine werbung",
		Actions: []Action{{Type: OptOutAction, Text: "Ok, keine Werbung mehr."}}})
	v.save(Rule{Name: "resub", Order: 8, Keyword: Define, Match: Contains, Pattern: "doch werbung",
		Actions: []Action{{Type: OptInAction, Text: "-"}}})

	res := v.handle(anna, "Join News")
	if got := v.out.texts(); !slices.Equal(got, []string{"Willkommen Anna aus Köln! {UNKNOWN}"}) {
		t.Errorf("join reply %q", got)
	}
	ms, _ := v.cs.Members(ctx, "news")
	if len(ms) != 1 || ms[0].Number != anna || ms[0].Source != "keyword" || res.Outcomes[0].Detail != "joined group news" {
		t.Errorf("members %+v outcome %+v", ms, res.Outcomes)
	}
	v.handle(anna, "please leave news")
	if ms, _ := v.cs.Members(ctx, "news"); len(ms) != 0 {
		t.Errorf("still member: %+v", ms)
	}
	if res.Routed() {
		t.Error("a join counts as routed")
	}
	res = v.handle(anna, "agent bitte")
	if !res.Routed() || len(v.out.routes) != 1 || v.out.routes[0] != res.Inbound.ID+">queue:support" {
		t.Errorf("routes %v", v.out.routes)
	}
	res = v.handle(anna, "Notfall im Keller")
	if len(v.out.sms) != 1 || v.out.sms[0].To != "+4930555" || v.out.sms[0].Text != anna+": Notfall im Keller" ||
		v.out.sms[0].Channel != "sms1" || !strings.HasPrefix(v.out.sms[0].ID, "fwd-"+res.Inbound.ID) {
		t.Errorf("sms forward %+v", v.out.sms)
	}
	v.out.replies = nil
	v.handle(anna, "Katalog?")
	if len(v.out.replies) != 1 || v.out.replies[0].Media == nil || v.out.replies[0].Media.Caption != "Katalog für "+anna {
		t.Errorf("media %+v", v.out.replies)
	}
	v.out.replies = nil
	res = v.handle(anna, "spam spam")
	if len(res.Outcomes) != 1 || res.Outcomes[0].Status != Done || res.Outcomes[0].Action != DoNothing || len(v.out.replies) != 0 {
		t.Errorf("nothing: %+v", res.Outcomes)
	}
	v.handle(anna, "Keine Werbung!")
	if _, b := v.cs.Blocked(ctx, anna); !b || !slices.Equal(v.out.texts(), []string{"Ok, keine Werbung mehr."}) {
		t.Errorf("opt-out action: blocked=%v replies %q", b, v.out.texts())
	}
	v.out.replies = nil
	v.handle(anna, "doch werbung")
	if _, b := v.cs.Blocked(ctx, anna); b || len(v.out.replies) != 0 {
		t.Errorf("opt-in action: blocked=%v replies %q", b, v.out.texts())
	}
}

func TestPlaceholders(t *testing.T) {
	t.Parallel()
	in := message.Inbound{ID: "wamid.1", Kind: message.WhatsApp, Channel: "wa", Receiver: "+4930999", From: "491520000",
		Name: "Bo", Text: "Hallo", MediaType: "image", At: time.Date(2026, 7, 1, 12, 5, 9, 0, time.UTC)}
	v := buildVars(in, Contact{Remark: "Stammkunde", Fields: map[string]string{"Kundennummer": "K-7"}}, berlin)
	got := v.Render("{ID}|{MSGID}|{MSG}|{CONTACTID}|{CONTACTREMARK}|{MSISDN}|{NICKNAME}|{TIMESTAMP}|{UTC}|{MEDIATYPE}|{INFOCODE}|{kundennummer}|{KUNDENNUMMER}|{x|{")
	want := "wa/491520000|wamid.1|Hallo|491520000|Stammkunde|491520000|Bo|2026-07-01 14:05:09|+02:00|image||K-7|K-7|{x|{"
	if got != want {
		t.Errorf("\ngot  %s\nwant %s", got, want)
	}
}

func TestKeywordTriggeredCampaign(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "promo", Order: 1, Keyword: Define, Match: Contains, Pattern: "promo",
		Actions: []Action{{Type: StartCampaign, Campaign: "c-spring"}}})
	v.save(Rule{Name: "broken", Order: 2, Keyword: Define, Match: Contains, Pattern: "alt",
		Actions: []Action{{Type: StartCampaign, Campaign: "missing"}}})
	res := v.handle(anna, "PROMO")
	if len(v.out.campaigns) != 1 || v.out.campaigns[0] != "c-spring>"+anna || v.out.vars[0]["first_name"] != "Anna" ||
		v.out.vars[0][PhMsg] != "PROMO" || res.Outcomes[0].Status != Done {
		t.Fatalf("campaign %v vars %v outcomes %+v", v.out.campaigns, v.out.vars, res.Outcomes)
	}
	res = v.handle(anna, "alt")
	if o := res.Outcomes[0]; o.Status != Failed || !strings.Contains(o.Detail, "not found") {
		t.Errorf("missing campaign: %+v (a permanent error is not retried)", o)
	}
}

func TestRedeliveryRunsNothingTwice(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "always", Order: 1, Keyword: Always, Actions: answer("once")})
	in := message.Inbound{ID: "dup-1", Kind: message.SMS, Channel: "sms1", From: anna, Text: "x", At: v.clk.Now()}
	a, b := v.handleIn(in), v.handleIn(in)
	if len(v.out.replies) != 1 || len(a.Outcomes) != 1 || len(b.Outcomes) != 1 {
		t.Errorf("replies %d, outcomes %d/%d", len(v.out.replies), len(a.Outcomes), len(b.Outcomes))
	}
}

func TestBadRulesRejectedWithReasons(t *testing.T) {
	t.Parallel()
	v := newEnv(t, func(c *Config) { c.Mailer = nil })
	ok := answer("x")
	for _, c := range []struct {
		r    Rule
		want string
	}{
		{Rule{Keyword: Always, Actions: ok}, "name"},
		{Rule{Name: "r", Keyword: "sometimes", Actions: ok}, "keyword"},
		{Rule{Name: "r", Keyword: Define, Match: Regexp, Pattern: "(Stop", Actions: ok}, "pattern: not a valid regular expression (Go RE2 syntax): error parsing regexp: missing closing )"},
		{Rule{Name: "r", Keyword: Define, Match: Regexp, Pattern: `(?<!x)stop`, Actions: ok}, "pattern: not a valid regular expression"},
		{Rule{Name: "r", Keyword: Define, Match: Contains, Actions: ok}, "pattern: a define rule needs"},
		{Rule{Name: "r", Keyword: Define, Match: "like", Pattern: "x", Actions: ok}, "match"},
		{Rule{Name: "r", Keyword: Always, Pattern: "x", Actions: ok}, "pattern"},
		{Rule{Name: "r", Keyword: Always, Window: &Window{Start: "18:00", End: "08:00"}, Actions: ok}, "window.end: 08:00 is before the start 18:00 on the same day; set wrap"},
		{Rule{Name: "r", Keyword: Always, Window: &Window{Start: "08:00", End: "18:00", Wrap: true}, Actions: ok}, "window.wrap"},
		{Rule{Name: "r", Keyword: Always, Window: &Window{Start: "8", End: "18:00"}, Actions: ok}, "window.start"},
		{Rule{Name: "r", Keyword: Always, Window: &Window{Start: "08:00", End: "08:00"}, Actions: ok}, "window.end"},
		{Rule{Name: "r", Keyword: Always, Days: []Day{"montag"}, Actions: ok}, "days"},
		{Rule{Name: "r", Keyword: Always, Kinds: []message.Kind{"fax"}, Actions: ok}, "kinds"},
		{Rule{Name: "r", Keyword: Always, Limit: &Limit{Count: 0, Period: Duration(time.Hour)}, Actions: ok}, "limit.count"},
		{Rule{Name: "r", Keyword: Always, Limit: &Limit{Count: 1, Period: Duration(time.Second)}, Actions: ok}, "limit.period"},
		{Rule{Name: "r", Keyword: Always}, "actions: add at least one"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: "teleport"}}}, "not an action"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: AutoAnswer}}}, "text or media"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: RouteTo, RouteKind: "queue"}}}, "route_id: missing destination"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: RouteTo, RouteKind: "fax", RouteID: "1"}}}, "route_kind"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: HTTPForward}}}, "url: missing destination URL"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: HTTPBot, URL: "ftp://x"}}}, "absolute http"}, // netscope: refused by validation
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: SMSForward}}}, "number: missing destination"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: GroupAdd}}}, "group: missing"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: GroupRemove, Group: "nope"}}}, `group: no subscriber group "nope"; create it first`},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: StartCampaign}}}, "campaign: missing"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: EmailForward}}}, "to: missing destination e-mail"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: EmailForward, To: []string{"nobody"}}}}, "not an e-mail address"},
		{Rule{Name: "r", Keyword: Always, Actions: []Action{{Type: EmailForward, To: []string{"a@example.com"}}}}, "not configured on this gateway: e-mail (automation.smtp)"},
	} {
		_, err := v.e.Save(context.Background(), c.r)
		if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v:\n got %v\nwant …%s…", c.r, err, c.want)
		}
	}
	if rs, _ := v.e.Rules(context.Background()); len(rs) != 0 {
		t.Errorf("rejected rules were stored: %+v", rs)
	}
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "office", Order: 1, Keyword: Define, Match: Contains, Pattern: "termin",
		Window: &Window{Start: "08:00", End: "17:00"}, Limit: &Limit{Count: 1, Period: Duration(time.Hour)},
		Actions: []Action{{Type: RouteTo, RouteKind: "extension", RouteID: "201"}}})
	v.save(Rule{Name: "rest", Order: 2, Keyword: Rest, Actions: answer("später")})
	ctx := context.Background()
	day := time.Date(2026, 3, 3, 10, 0, 0, 0, berlin)
	r := v.e.Test(ctx, "Termin bitte", "sms1", message.SMS, day)
	if len(r.Hits) != 1 || r.Hits[0].Name != "office" || !r.Hits[0].Limited || r.Hits[0].Actions[0] != RouteTo {
		t.Errorf("office hours: %+v", r)
	}
	// Dry runs count nothing: the limit of 1 still lets the next one fire.
	if r := v.e.Test(ctx, "Termin bitte", "sms1", message.SMS, day); len(r.Hits) != 1 || r.Hits[0].Name != "office" {
		t.Errorf("second dry run: %+v", r)
	}
	if r := v.e.Test(ctx, "Termin bitte", "sms1", message.SMS, day.Add(9*time.Hour)); len(r.Hits) != 1 || r.Hits[0].Name != "rest" {
		t.Errorf("evening: %+v", r)
	}
	if r := v.e.Test(ctx, "stopp", "sms1", message.SMS, day); r.Consent != "opt_out" || len(r.Hits) != 0 {
		t.Errorf("stop: %+v", r)
	}
	if recs, _ := v.e.Recent(ctx, 10); len(recs) != 0 {
		t.Errorf("dry run stored messages: %d", len(recs))
	}
}

func TestRulesPersistAndDelete(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	r := v.save(Rule{Name: "a", Order: 2, Keyword: Always, Limit: &Limit{Count: 1, Period: Duration(time.Hour)}, Actions: answer("a")})
	v.save(Rule{Name: "b", Order: 1, Keyword: Define, Match: Regexp, Pattern: "^b$", Actions: answer("b")})
	v.restart()
	rs, err := v.e.Rules(context.Background())
	if err != nil || len(rs) != 2 || rs[0].Name != "b" || rs[1].Limit.Period != Duration(time.Hour) {
		t.Fatalf("after restart: %+v %v", rs, err)
	}
	v.handle(anna, "b")
	v.handle(anna, "x")
	if got := v.out.texts(); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("replies %q", got)
	}
	if err := v.e.Delete(context.Background(), r.ID); err != nil {
		t.Fatal(err)
	}
	if err := v.e.Delete(context.Background(), r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	v.out.replies = nil
	v.handle(anna, "x")
	if len(v.out.replies) != 0 {
		t.Errorf("deleted rule fired")
	}
	recs, _ := v.e.Recent(context.Background(), 2)
	if len(recs) != 2 || recs[0].Inbound.Text != "x" || recs[1].Inbound.Text != "x" {
		t.Errorf("recent: %+v", recs)
	}
	counters := func() int {
		n := 0
		_ = v.st.View(func(txn *store.Txn) error { n = store.Count(txn, prefixCounter); return nil })
		return n
	}
	v.save(Rule{Name: "limited", Order: 0, Keyword: Define, Match: Contains, Pattern: "z", Limit: &Limit{Count: 1, Period: Duration(2 * time.Hour)}, Actions: answer("z")})
	v.handle(anna, "z")
	if counters() != 1 { // Delete took the deleted rule's
		t.Fatalf("counters before prune: %d", counters())
	}
	v.clk.Add(time.Hour)
	if n, err := v.e.Prune(context.Background(), v.clk.Now()); err != nil || n != 4 {
		t.Errorf("prune: %d %v", n, err)
	}
	if counters() != 1 {
		t.Errorf("counters after prune: %d (the live one must stay)", counters())
	}
	v.clk.Add(time.Hour)
	if _, err := v.e.Prune(context.Background(), v.clk.Now()); err != nil || counters() != 0 {
		t.Errorf("counters after the period: %d %v", counters(), err)
	}
}

func TestSecretsMaskedAndKept(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx := context.Background()
	r := v.save(Rule{Name: "crm", Keyword: Always, Actions: []Action{{Type: HTTPForward, URL: "https://crm.example.com/in", Secret: "s3cret"}}}) // netscope: saved, the rule never runs here
	shown := r.Redacted()
	if shown.Actions[0].Secret != SecretMask || r.Actions[0].Secret != "s3cret" {
		t.Fatalf("redacted %+v original %+v", shown.Actions, r.Actions)
	}
	shown.Name = "crm renamed"
	if _, err := v.e.Save(ctx, shown); err != nil {
		t.Fatal(err)
	}
	got, _ := v.e.Get(ctx, r.ID)
	if got.Name != "crm renamed" || got.Actions[0].Secret != "s3cret" {
		t.Errorf("after saving the redacted rule: %+v", got)
	}
	shown.Actions[0].URL = "https://elsewhere.example.com/" // netscope: saved, the rule never runs here
	if _, err := v.e.Save(ctx, shown); !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "enter the secret again") {
		t.Errorf("mask with a new URL: %v", err)
	}
	if _, err := v.e.Save(ctx, Rule{Name: "new", Keyword: Always, Actions: shown.Actions}); !errors.Is(err, ErrInvalidRule) {
		t.Errorf("mask on a new rule: %v", err)
	}
}

func TestGroupKeywordRulesFromClickToChat(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx := context.Background()
	if _, err := v.cs.CreateGroup(ctx, "Angebote", ""); err != nil {
		t.Fatal(err)
	}
	for _, r := range GroupKeywordRules("Angebote", "JOIN ANGEBOTE (1+1)", "LEAVE ANGEBOTE", "Willkommen!", "", 0) {
		if _, err := v.e.Save(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// As the prefilled keyword of a wa.me link arrives, with a stray space.
	v.handle(anna, " join  angebote (1+1) ")
	v.handle("+491700000002", "join angebote (1+1) bitte") // not the keyword
	ms, _ := v.cs.Members(ctx, "Angebote")
	if len(ms) != 1 || ms[0].Number != anna || !slices.Equal(v.out.texts(), []string{"Willkommen!"}) {
		t.Fatalf("members %+v replies %q", ms, v.out.texts())
	}
	v.handle(anna, "Leave Angebote")
	if ms, _ := v.cs.Members(ctx, "Angebote"); len(ms) != 0 {
		t.Errorf("after leave: %+v", ms)
	}
}

func TestConcurrentMessagesRespectTheLimit(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "limited", Order: 1, Keyword: Always, Limit: &Limit{Count: 5, Period: Duration(time.Hour)}, Actions: answer("ok")})
	ctx := context.Background()
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() {
			_, err := v.e.Handle(ctx, message.Inbound{ID: "c" + itoa2(i), Kind: message.SMS, Channel: "sms1", From: anna, Text: "x", At: v.clk.Now()})
			errs <- err
		}()
	}
	for i := 0; i < 20; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.out.texts()); n != 5 {
		t.Errorf("%d answers, want 5", n)
	}
}

func TestFailedReplyIsRetried(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "a", Keyword: Always, Actions: answer("Danke {NICKNAME}")})
	v.out.failReply = errors.New("modem pool: no SIM ready")
	res := v.handle(anna, "hallo")
	if o := res.Outcomes[0]; o.Status != Retrying || !strings.Contains(o.Detail, "no SIM ready") {
		t.Fatalf("outcome %+v", o)
	}
	v.out.mu.Lock()
	v.out.failReply = nil
	v.out.mu.Unlock()
	v.clk.Add(time.Minute)
	if n, err := v.e.RetryDue(context.Background()); n != 1 || err != nil {
		t.Fatalf("retry: %d %v", n, err)
	}
	if got := v.out.texts(); !slices.Equal(got, []string{"Danke Anna"}) {
		t.Errorf("replies %q", got)
	}
	rec, _ := v.e.Record(context.Background(), res.Inbound.ID)
	if o := rec.Outcomes[0]; o.Status != Done || o.Attempts != 2 {
		t.Errorf("after retry %+v", o)
	}
}

func TestReorder(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	a := v.save(Rule{Name: "a", Order: 1, Keyword: Always, Actions: answer("a")})
	b := v.save(Rule{Name: "b", Order: 2, Keyword: Always, Actions: answer("b")})
	v.handle(anna, "x")
	if err := v.e.Reorder(context.Background(), []string{b.ID, a.ID}); err != nil {
		t.Fatal(err)
	}
	v.handle(anna, "x")
	if got := v.out.texts(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("replies %q", got)
	}
	if err := v.e.Reorder(context.Background(), []string{a.ID, "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	v.restart()
	rs, _ := v.e.Rules(context.Background())
	if rs[0].ID != b.ID || rs[0].Order != 10 || rs[1].Order != 20 {
		t.Errorf("after restart %+v", rs)
	}
}
