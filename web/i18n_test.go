package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/web/i18n"
)

// TestCatalogComplete: every language has exactly the same keys, no empty
// message, and the same {n} placeholders.
func TestCatalogComplete(t *testing.T) {
	t.Parallel()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	ref := cat.Keys(i18n.Default)
	if len(ref) < 100 {
		t.Fatalf("catalog has only %d keys", len(ref))
	}
	ph := regexp.MustCompile(`\{\d+\}`)
	for _, l := range i18n.Supported() {
		keys := cat.Keys(l)
		for _, k := range ref {
			if !cat.Has(l, k) {
				t.Errorf("%s: missing key %q", l, k)
			}
		}
		for _, k := range keys {
			if !cat.Has(i18n.Default, k) {
				t.Errorf("%s: key %q not in %s", l, k, i18n.Default)
			}
			msg := cat.T(l, k)
			if strings.TrimSpace(msg) == "" {
				t.Errorf("%s: %q is empty", l, k)
			}
			a, b := ph.FindAllString(msg, -1), ph.FindAllString(cat.T(i18n.Default, k), -1)
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Errorf("%s: %q placeholders %v differ from %v", l, k, a, b)
			}
		}
	}
}

// TestEveryKeyUsedExists scans templates and Go code for literal catalog
// keys (and the dynamic families) and checks each exists.
func TestEveryKeyUsedExists(t *testing.T) {
	t.Parallel()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	var used []string
	tmplKey := regexp.MustCompile(`\.T "([a-z0-9_.]+)"`)
	goKey := regexp.MustCompile(`(?:\.T\(|[fF]lash\(c, |[rR]enderError\(c, [^,]+, |"error\.|Title: )"([a-z0-9_.]+)"`)
	err = filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(p, ".html"):
			for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
				used = append(used, m[1])
			}
		case strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go"):
			for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
				if strings.HasSuffix(m[1], ".") {
					continue // a family, checked below
				}
				used = append(used, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 100 {
		t.Fatalf("found only %d key uses; the scan is broken", len(used))
	}
	// Families built at run time.
	for _, st := range app.CampaignStates() {
		used = append(used, "state."+string(st))
	}
	for _, l := range i18n.Supported() {
		used = append(used, "lang.name."+string(l), "lang.code."+string(l))
	}
	for _, a := range []string{"stop", "start", "resume", "retry", "duplicate"} {
		used = append(used, "campaign.done."+a)
	}
	for _, a := range []string{"user.add", "user.delete", "user.role", "user.password", "settings.region", "token.create", "token.revoke", "backup.download", "contacts.import", "contacts.delete", "modem.ussd", "rule.save", "rule.delete", "whatsapp.sync", "blacklist.add", "blacklist.remove"} {
		used = append(used, "audit."+a)
	}
	used = append(used, "role.admin", "role.operator", "channel.sms", "channel.whatsapp", "nav.modems", "nav.whatsapp", "nav.pbx")
	for _, a := range []string{"close", "transfer"} {
		used = append(used, "sessions.done."+a)
	}
	used = append(used, "blacklist.dir.both", "blacklist.dir.send", "blacklist.dir.receive", "nav.blacklist")
	used = append(used, "automation.consent.opt_out", "automation.consent.opt_in", "nav.automation")
	used = append(used, "sessions.state.open", "sessions.state.closed", "nav.sessions")
	for _, n := range []string{"mobile", "work", "home", "other"} {
		used = append(used, "ntype."+n)
	}
	for _, r := range []string{"queued", "sending", "sent", "delivered", "failed", "excluded", "unknown"} {
		used = append(used, "rstate."+r)
	}
	for _, l := range i18n.Supported() {
		for _, k := range used {
			if !cat.Has(l, k) {
				t.Errorf("%s: key %q is used but missing", l, k)
			}
		}
	}
}

// TestTemplatesHaveNoLiteralText: once actions, tags, comments and
// scripts are removed, no words remain, and no user-visible attribute
// (placeholder, title, aria-label, alt) holds text of its own. So every
// visible string goes through the catalog.
func TestTemplatesHaveNoLiteralText(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("app/templates/*.html")
	if err != nil || len(files) < 5 {
		t.Fatalf("templates: %v %v", files, err)
	}
	action := regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	script := regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)>`)
	comment := regexp.MustCompile(`(?s)<!--.*?-->`)
	attr := regexp.MustCompile(`(?i)\b(placeholder|title|aria-label|alt|value)="([^"]*)"`)
	tag := regexp.MustCompile(`(?s)<[^>]*>`)
	entity := regexp.MustCompile(`&[a-z]+;|&#\d+;`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, m := range attr.FindAllStringSubmatch(action.ReplaceAllString(src, "§"), -1) {
			rest := m[2]
			if m[1] == "value" {
				// Values are data (form values, option codes), not visible
				// text, except on buttons, which this portal does not use.
				continue
			}
			if hasLetters(rest) {
				t.Errorf("%s: attribute %s=%q has literal text", f, m[1], m[2])
			}
		}
		text := action.ReplaceAllString(src, " ")
		text = script.ReplaceAllString(text, " ")
		text = comment.ReplaceAllString(text, " ")
		text = tag.ReplaceAllString(text, " ")
		text = entity.ReplaceAllString(text, " ")
		for _, word := range strings.Fields(text) {
			if hasLetters(word) {
				t.Errorf("%s: literal text %q outside the catalog", f, word)
			}
		}
	}
}

func hasLetters(s string) bool {
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

func TestNegotiateLanguage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cookie, accept string
		fallback       i18n.Lang
		want           i18n.Lang
	}{
		{"", "", i18n.EN, i18n.EN},
		{"", "", "", i18n.DE},
		{"en", "de-DE,de;q=0.9", i18n.DE, i18n.EN},
		{"", "de-AT,de;q=0.9,en;q=0.8", i18n.EN, i18n.DE},
		{"", "fr-FR,fr;q=0.9,en;q=0.5,de;q=0.4", i18n.DE, i18n.EN},
		{"", "fr", i18n.EN, i18n.EN},
		{"xx", "en-GB", i18n.DE, i18n.EN},
		{"", "de;q=0,en;q=0.1", i18n.DE, i18n.EN},
	}
	for _, c := range cases {
		if got := i18n.Negotiate(c.cookie, c.accept, c.fallback); got != c.want {
			t.Errorf("Negotiate(%q, %q, %q) = %q, want %q", c.cookie, c.accept, c.fallback, got, c.want)
		}
	}
}

// {n|one|other} picks the form for argument n (app.js fmt does the same
// for the live counters; the browser tests read them).
func TestCatalogPlurals(t *testing.T) {
	t.Parallel()
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lang i18n.Lang
		key  string
		args []any
		want string
	}{
		{i18n.DE, "csv.invalid", []any{1}, "1 ungültige Zeile:"},
		{i18n.DE, "csv.invalid", []any{3}, "3 ungültige Zeilen:"},
		{i18n.EN, "csv.invalid", []any{1}, "1 invalid row:"},
		{i18n.EN, "csv.invalid", []any{0}, "0 invalid rows:"},
		{i18n.EN, "groups.counts", []any{1, 0}, "1 member, 0 of them excluded from sends"},
		{i18n.DE, "campaign.err.group_excluded", []any{"1"}, "1 Mitglied der Gruppe wird ausgelassen"},
		{i18n.EN, "campaign.counter", []any{71, 2, "UCS-2", 63}, "71 characters · 2 SMS parts · UCS-2 · 63 left in the last part"},
		// Without its argument the form stays visible, like {0} does.
		{i18n.EN, "campaign.count", nil, "{0} {0|campaign|campaigns}"},
	} {
		if got := cat.T(c.lang, c.key, c.args...); !strings.HasPrefix(got, c.want) {
			t.Errorf("T(%s, %s, %v) = %q, want %q", c.lang, c.key, c.args, got, c.want)
		}
	}
}
