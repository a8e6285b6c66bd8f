package web

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	_ "github.com/pbxgate/pbxgate/drivers/metamsg" // its reason codes
	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/smspool"
	_ "github.com/pbxgate/pbxgate/drivers/whatsapp" // its reason codes
	"github.com/pbxgate/pbxgate/gateway/campaign"
	_ "github.com/pbxgate/pbxgate/gateway/consent" // its reason codes
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// TestEveryReasonCodeTranslated: every reason code the packages below the
// portal can produce (they register them, see message.NewCode) has a
// "reason.<code>" key in every language, using exactly the placeholders
// {0}…{n-1} of its arguments (plus one for a wrapped cause), and every
// reason key in the catalog belongs to a code. Adding a code without its
// translation fails here.
func TestEveryReasonCodeTranslated(t *testing.T) {
	t.Parallel()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	codes := message.Codes()
	// The packages that produce reasons, each checked by one code it must
	// have registered (so a package dropped from the imports is noticed).
	for _, probe := range []string{"number.too_short", "csv.open_quote", "campaign.dnc", "consent.opted_out", "cms.38", "modem.no_answer", "sms.gave_up", "tpst.70", "wa.131047", "meta.window"} {
		if !slices.ContainsFunc(codes, func(c message.CodeInfo) bool { return c.Name == probe }) {
			t.Errorf("code %s is not registered; is its package still imported by this test?", probe)
		}
	}
	ph := regexp.MustCompile(`\{(\d+)\}`)
	known := map[string]bool{}
	for _, c := range codes {
		key := "reason." + c.Name
		known[key] = true
		n := c.Args
		if c.Cause {
			n++
		}
		for _, l := range i18n.Supported() {
			if !cat.Has(l, key) {
				t.Errorf("%s: reason code %s has no key %q (add it to web/i18n/%s.reasons.json)", l, c.Name, key, l)
				continue
			}
			seen := map[int]bool{}
			for _, m := range ph.FindAllStringSubmatch(cat.T(l, key), -1) {
				i, _ := strconv.Atoi(m[1])
				seen[i] = true
			}
			for i := range n {
				if !seen[i] {
					t.Errorf("%s: %q does not show argument {%d}", l, key, i)
				}
				delete(seen, i)
			}
			for i := range seen {
				t.Errorf("%s: %q has {%d}, but code %s has only %d argument(s)", l, key, i, c.Name, n)
			}
		}
	}
	for _, l := range i18n.Supported() {
		for _, k := range cat.Keys(l) {
			if strings.HasPrefix(k, "reason.") && !known[k] {
				t.Errorf("%s: catalog key %q belongs to no reason code", l, k)
			}
		}
	}
}

// TestReasonsOnlyFromRegisteredCodes: Go code builds reasons only through
// registered codes (message.Code.R/Wrap), never as a literal
// message.Reason{Code: …} that the completeness test above cannot see.
func TestReasonsOnlyFromRegisteredCodes(t *testing.T) {
	t.Parallel()
	literal := regexp.MustCompile(`message\.Reason\{\s*Code:`)
	n := 0
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != ".." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if literal.Match(b) {
			t.Errorf("%s builds a message.Reason literal; register a code with message.NewCode instead", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("scanned only %d Go files; the walk is broken", n)
	}
}

// cmsChannel stands in for the modem pool the way reportingChannel does:
// it accepts every message and reports the outcome later through the real
// engine. Numbers in fail are reported failed with the reason the real
// modem driver and pool give a +CMS ERROR 38; numbers in reject are
// refused at once with a plain (uncoded) error, as a record from before
// reason codes would read.
type cmsChannel struct {
	mu     sync.Mutex
	eng    *campaign.Engine
	fail   map[string]bool
	reject map[string]bool
}

func (c *cmsChannel) Name() string { return "gsm" }

func (c *cmsChannel) Kind() message.Kind { return message.SMS }

func (c *cmsChannel) MaxPerMinute() int { return 0 }

func (c *cmsChannel) Send(_ context.Context, m message.Outbound) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reject[m.To] {
		return fmt.Errorf("%w: number %s is barred by the network", campaign.ErrRejected, m.To)
	}
	ev := message.StatusEvent{ID: m.ID, Status: message.Delivered, At: time.Now()}
	if c.fail[m.To] {
		reason, retry, fault := modem.CMSReason(38)
		f := smspool.Classify(&modem.SendError{CMS: 38, Reason: reason, ReasonCode: modem.CMSReasonCode(38), Retryable: retry, ModemFault: fault})
		ev.Status, ev.Reason, ev.ReasonCode, ev.Code = message.Failed, f.Reason, f.ReasonCode, f.Code
	}
	eng := c.eng
	go func() { _ = eng.HandleStatus(context.Background(), ev) }()
	return nil
}

// TestGermanReasonsInThePortal: a German campaign page shows the recipient
// reasons (a failed SMS with the modem's CMS error, a number excluded by a
// do-not-contact list) and the campaign's reason in German, a reason
// stored without a code in English as it was, and the CSV preview lists
// an invalid number in German; the English page keeps the English texts.
func TestGermanReasonsInThePortal(t *testing.T) {
	t.Parallel()
	ch := &cmsChannel{fail: map[string]bool{"+4915123456789": true}, reject: map[string]bool{"+4915222222222": true}}
	var eng *campaign.Engine
	env := newEnv(t, func(d *app.Deps) {
		lists := recipients.NewLists(d.Store)
		if _, _, err := lists.Import(context.Background(), "Sperre", strings.NewReader("phone\n0171 1234567\n"), recipients.CSVOptions{Region: "DE"}); err != nil {
			t.Fatal(err)
		}
		eng = startEngine(t, d, map[string]campaign.Channel{"gsm": ch}, campaign.Config{DNC: lists})
		ch.eng = eng
	})
	c := env.client()
	c.setup("admin password")
	c.lang = "de"
	c.get("/lang/de")

	// The CSV preview names the bad row's problem in German.
	tok := c.csrf("/campaigns/new")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, _ := w.CreateFormFile("csv", "r.csv")
	fw.Write([]byte("name;phone\nAnna;0171 1234567\nBernd;0171 12\n"))
	w.Close()
	r := c.do("POST", "/campaigns/preview-csv", &buf, map[string]string{"Content-Type": w.FormDataContentType(), "X-CSRF-Token": tok})
	if r.code != http.StatusOK {
		t.Fatalf("preview: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, "Zeile 3: 0171 12 – ungültige Telefonnummer: „0171 12“ ist keine gültige Nummer für DE")
	if strings.Contains(r.body, "is not a valid number") {
		t.Fatalf("the German preview shows the English reason:\n%s", r.body)
	}

	camp, err := eng.Create(context.Background(), campaign.Spec{Name: "Gründe", Channel: "gsm", Content: campaign.Content{Text: "Hallo"},
		DNCLists: []string{"Sperre"}, When: campaign.When{Kind: "now"}},
		[]recipients.Recipient{{Number: "+4915123456789"}, {Number: "0171 1234567"}, {Number: "+4915222222222"}, {Number: "+4915333333333"}})
	if err != nil {
		t.Fatal(err)
	}
	done := waitState(t, eng, camp.ID, campaign.Completed)
	if done.Counts.Failed != 2 || done.Counts.Excluded != 1 || done.Counts.Delivered != 1 {
		t.Fatalf("counts = %+v, want 2 failed, 1 excluded, 1 delivered", done.Counts)
	}

	r = c.get("/campaigns/" + camp.ID)
	if r.code != http.StatusOK {
		t.Fatalf("detail: %d", r.code)
	}
	mustContain(t, r.body,
		"alle 4 Empfänger übergeben",                       // the campaign's reason
		"Netz außer Betrieb",                               // CMS 38 from the modem driver, through the pool
		"auf der Sperrliste „Sperre“ (nicht kontaktieren)", // excluded by the DNC list
		"barred by the network",                            // no code: the English text as stored
	)
	for _, en := range []string{"network out of order", "on do-not-contact list", "recipients handed over"} {
		if strings.Contains(r.body, en) {
			t.Errorf("the German page shows %q", en)
		}
	}

	// The English page (and the API) keep the English texts.
	c.lang = "en"
	c.get("/lang/en")
	r = c.get("/campaigns/" + camp.ID)
	mustContain(t, r.body, "all 4 recipients handed over", "network out of order", "on do-not-contact list Sperre")
}

// TestReasonHelper: nested codes translate inside out, a cause the catalog
// cannot translate or a record without code falls back to the English
// text, and an argument holding a placeholder is not substituted again.
func TestReasonHelper(t *testing.T) {
	t.Parallel()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	de := &app.View{Cat: cat, Language: i18n.DE}
	in := message.Reason{Code: "sms.gave_up", Args: []string{"3"}, Cause: &message.Reason{Code: "modem.part", Args: []string{"2", "3"}, Cause: &message.Reason{Code: "cms.42"}}}
	if got, want := de.Reason(in, "english"), "nach 3 Versuchen aufgegeben: Teil 2 von 3: Netzüberlastung"; got != want {
		t.Errorf("nested = %q, want %q", got, want)
	}
	unknownCause := message.Reason{Code: "sms.gave_up", Args: []string{"3"}, Cause: &message.Reason{Code: "no.such.code"}}
	if got := de.Reason(unknownCause, "gave up after 3 attempts: x"); got != "gave up after 3 attempts: x" {
		t.Errorf("unknown cause = %q, want the English fallback", got)
	}
	if got := de.Reason(message.Reason{}, "stored before codes"); got != "stored before codes" {
		t.Errorf("no code = %q", got)
	}
	if got, want := de.Reason(message.Reason{Code: "number.letters", Args: []string{"{1}x", "x"}}, ""), "ungültige Telefonnummer: „{1}x“ ist keine Nummer (enthält „x“)"; got != want {
		t.Errorf("placeholder in argument = %q, want %q", got, want)
	}
}
