package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/firmware/spool"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/rules"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/i18n/leakcheck"
)

// errNoSpace is a full disk as the kernel reports it.
var errNoSpace error = syscall.ENOSPC

var errParaRE = regexp.MustCompile(`(?s)<p class="err"[^>]*>(.*?)</p>`)

// pageErrors are the texts of a page's error paragraphs.
func pageErrors(body string) []string {
	var out []string
	for _, m := range errParaRE.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// backupOf is a backup of a store migrated to schema version v (0: a
// store without pbxgate's schema).
func backupOf(t *testing.T, v int) []byte {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var ms []store.Migration
	for i := 1; i <= v; i++ {
		ms = append(ms, store.Migration{Version: i, Name: fmt.Sprintf("m%d", i)})
	}
	if len(ms) > 0 {
		if err := st.Migrate(ms, nil); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := st.Backup(&b); err != nil {
		t.Fatal(err)
	}
	st.Close()
	return b.Bytes()
}

// failingRestorer refuses every upload with err.
type failingRestorer struct{ err error }

func (r failingRestorer) StageRestore(context.Context, io.Reader) (string, error) { return "", r.err }
func (failingRestorer) RestorePending() bool                                      { return false }

// TestRestoreRefusalsInGerman uploads what the restore form refuses —
// a text file, a backup without pbxgate data, a backup of a newer schema,
// a truncated backup — and, through a restorer that fails the way the
// daemon's can, a full disk and a failed safety backup: each refusal is
// one German sentence with its numbers, with no English detail in
// brackets (issue 20) — leakcheck finds none — and the API keeps
// answering with a code.
func TestRestoreRefusalsInGerman(t *testing.T) {
	t.Parallel()
	det, err := leakcheck.New()
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, func(d *app.Deps) { d.Restore = stagingRestorer{dir: d.Store.Dir()} })
	c := env.client()
	c.setup("admin password")
	c.get("/lang/de?next=/system")
	tok := c.csrf("/system")
	path := "/system/restore?csrf_token=" + url.QueryEscape(tok)
	good := backupOf(t, 1)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"text", []byte("name;telefon\nAnna;0171 1234567\n"), "Diese Datei ist keine verwendbare pbxgate-Sicherung."},
		{"no schema", backupOf(t, 0), "Die Datei ist eine Sicherung ohne pbxgate-Daten."},
		{"newer", backupOf(t, 3), "Die Sicherung stammt von einer neueren pbxgate-Version (Datenschema 3, diese Version kennt bis 1)"},
		{"truncated", good[:len(good)/2], "Diese Datei ist keine verwendbare pbxgate-Sicherung."},
	} {
		r := c.uploadFile(path, "backup", "sicherung.pbxbak", tc.data, "confirm", "yes")
		errs := pageErrors(r.body)
		if r.code != http.StatusUnprocessableEntity || len(errs) != 1 {
			t.Fatalf("%s: %d, errors %q", tc.name, r.code, errs)
		}
		if !strings.HasPrefix(errs[0], tc.want) {
			t.Errorf("%s: error %q, want %q", tc.name, errs[0], tc.want)
		}
		if strings.Contains(errs[0], "(restore") || len(det.Check(errs[0])) > 0 {
			t.Errorf("%s: English in the German error %q: %v", tc.name, errs[0], det.Check(errs[0]))
		}
	}
	if store.HasStagedRestore(env.store.Dir()) {
		t.Fatal("a refused upload was staged")
	}

	// The daemon's own failures, as its restorer wraps them.
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("restore: %w: %w", store.ErrSafetyBackup, errors.New("open /var/lib/pbxgate-backups: permission denied")), "Die aktuellen Daten konnten vorher nicht gesichert werden"},
		{fmt.Errorf("restore: %w", fmt.Errorf("write: %w", errNoSpace)), "Der Datenträger ist zu voll"},
	} {
		fenv := newEnv(t, func(d *app.Deps) { d.Restore = failingRestorer{err: tc.err} })
		fc := fenv.client()
		fc.setup("admin password")
		fc.get("/lang/de?next=/system")
		ftok := fc.csrf("/system")
		r := fc.uploadFile("/system/restore?csrf_token="+url.QueryEscape(ftok), "backup", "b.pbxbak", good, "confirm", "yes")
		errs := pageErrors(r.body)
		if len(errs) != 1 || !strings.HasPrefix(errs[0], tc.want) || len(det.Check(errs[0])) > 0 {
			t.Errorf("%v: errors %q, want one German sentence starting %q", tc.err, errs, tc.want)
		}
	}
}

// TestUpdateRefusalsInGerman: the firmware card's refusals (a text file,
// a picture, an unknown failure) in German without the Go error's
// English in brackets.
func TestUpdateRefusalsInGerman(t *testing.T) {
	t.Parallel()
	det, err := leakcheck.New()
	if err != nil {
		t.Fatal(err)
	}
	keyDir, spoolDir := t.TempDir(), t.TempDir()
	if _, err := bundle.GenerateKey(filepath.Join(keyDir, "release.key"), filepath.Join(keyDir, "release.pub")); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, func(d *app.Deps) {
		d.Updates = spool.Spool{Dir: spoolDir, Keys: filepath.Join(keyDir, "release.pub"), Installed: "1.2.3", Arch: bundle.Arch()}
	})
	c := env.client()
	c.setup("admin password")
	c.get("/lang/de?next=/system")
	tok := c.csrf("/system")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"text", []byte("Das ist kein Update.\n"), "Diese Datei ist kein pbxgate-Update-Paket."},
		{"picture", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"), ""},
	} {
		r := c.uploadFile("/system/update?csrf_token="+url.QueryEscape(tok), "bundle", "x.pbxup", tc.data)
		errs := pageErrors(r.body)
		if r.code != http.StatusUnprocessableEntity || len(errs) != 1 {
			t.Fatalf("%s: %d, errors %q", tc.name, r.code, errs)
		}
		if !strings.HasPrefix(errs[0], tc.want) || len(det.Check(errs[0])) > 0 {
			t.Errorf("%s: error %q (want %q), English: %v", tc.name, errs[0], tc.want, det.Check(errs[0]))
		}
	}
	for _, tc := range []struct {
		err  error
		key  string
		want string
	}{
		{errors.New("rename /var/lib/pbxgate-updates/x: input/output error"), "update.err.other", "Die Einzelheiten stehen im pbxgate-Protokoll"},
		{fmt.Errorf("copy: %w", errNoSpace), "update.err.disk_full", "Der Datenträger ist zu voll"},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), "update.err.upload_broken", "Das Hochladen brach ab"},
	} {
		if key, _ := app.UpdateErrKey(tc.err); key != tc.key {
			t.Errorf("%v: key %s, want %s", tc.err, key, tc.key)
		}
		fenv := newEnv(t, func(d *app.Deps) { d.Updates = failingSpool{err: tc.err} })
		fc := fenv.client()
		fc.setup("admin password")
		fc.get("/lang/de?next=/system")
		ftok := fc.csrf("/system")
		r := fc.uploadFile("/system/update?csrf_token="+url.QueryEscape(ftok), "bundle", "x.pbxup", []byte("x"))
		errs := pageErrors(r.body)
		if len(errs) != 1 || !strings.Contains(errs[0], tc.want) || len(det.Check(errs[0])) > 0 {
			t.Errorf("%v: errors %q, want one German sentence with %q", tc.err, errs, tc.want)
		}
	}
}

// failingSpool is an appliance update spool whose staging fails with err.
type failingSpool struct{ err error }

func (failingSpool) Status() (spool.State, error) { return spool.State{}, nil }
func (s failingSpool) Stage(context.Context, io.Reader) (bundle.Manifest, error) {
	return bundle.Manifest{}, s.err
}

// TestRuleAndFileRefusalsInGerman: the automation form's refusals from the
// rules engine (an invalid regular expression with what is wrong in it, a
// match kind the form does not offer, routing without a PBX) and the
// contact imports' unreadable files (empty, only broken rows, no valid
// number) are German sentences, no English detail (leakcheck finds none).
func TestRuleAndFileRefusalsInGerman(t *testing.T) {
	t.Parallel()
	det, err := leakcheck.New()
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, func(d *app.Deps) {
		cons, err := consent.New(consent.Config{Store: d.Store, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		eng, err := rules.New(rules.Config{Store: d.Store, Consent: cons, Replier: &replies{}, Location: time.UTC, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		d.Rules, d.Consent = eng, cons
	})
	c := env.client()
	c.setup("admin password")
	c.get("/lang/de?next=/automation")
	tok := c.csrf("/automation")
	for _, tc := range []struct {
		match, pattern, action string
		want                   string
	}{
		{"regexp", "(abc", "auto_answer", "Der reguläre Ausdruck „(abc“ ist ungültig: eine runde Klammer ( wird nicht geschlossen."},
		{"regexp", "a**", "auto_answer", "Der reguläre Ausdruck „**“ ist ungültig: Wiederholungszeichen stehen doppelt (z. B. **)."},
		{"regexp", `(?=x)`, "auto_answer", "Der reguläre Ausdruck „(?=“ ist ungültig: diese Perl-Syntax (z. B. Lookahead) gibt es in RE2 nicht."},
		{"regex", "hallo", "auto_answer", "Wählen Sie, wie die Nachricht passen soll"},
		{"contains", "hallo", "route", "Diese Aktion ist auf diesem Gateway nicht eingerichtet"},
	} {
		r := c.post("/automation/rules", formVals("csrf_token", tok, "rule_name", "Regel", "match", tc.match, "pattern", tc.pattern,
			"action", tc.action, "answer", "Danke", "route", "201"))
		errs := pageErrors(r.body)
		if r.code != http.StatusUnprocessableEntity || len(errs) != 1 {
			t.Fatalf("%s %q: %d, errors %q", tc.match, tc.pattern, r.code, errs)
		}
		if !strings.HasPrefix(errs[0], tc.want) || len(det.Check(errs[0])) > 0 {
			t.Errorf("%s %q: error %q, want %q; English: %v", tc.match, tc.pattern, errs[0], tc.want, det.Check(errs[0]))
		}
	}

	tok = c.csrf("/blacklist")
	for _, tc := range []struct{ entry, direction, want string }{
		{"keine Nummer", "both", "„keine Nummer“ ist keine Nummer und kein Präfix"},
		{"abc*", "both", "„abc“ ist keine Nummer und kein Präfix"},
		{"+4915123456701", "irgendwohin", "Wählen Sie eine Richtung"},
	} {
		r := c.post("/blacklist", formVals("csrf_token", tok, "entry", tc.entry, "direction", tc.direction))
		errs := pageErrors(r.body)
		if len(errs) != 1 || !strings.HasPrefix(errs[0], tc.want) || len(det.Check(errs[0])) > 0 {
			t.Errorf("blacklist %q %q: %d, errors %q, want %q", tc.entry, tc.direction, r.code, errs, tc.want)
		}
	}

	tok = c.csrf("/contacts")
	for _, tc := range []struct {
		form, file string
		data       []byte
		want       string
	}{
		{"/contacts/dnc", "sperre.csv", []byte("\n\n"), "Die Datei ist leer."},
		{"/contacts/dnc", "sperre.csv", []byte("telefon\nkeine Nummer\nauch keine\n"), "Die Datei enthält keine gültige Telefonnummer."},
		{"/contacts/phonebooks", "kunden.csv", []byte("\"Anna;0171 1234567\n"), "Keine Zeile der Datei ist lesbar (die erste fehlerhafte ist Zeile 1"},
		{"/contacts/phonebooks", "kunden.csv", []byte("name;telefon\nAnna;keine\n"), "Die Datei enthält keine gültige Telefonnummer."},
		{"/contacts/lists", "liste.csv", []byte("\n"), "Die Datei ist leer."},
	} {
		r := c.uploadFile(tc.form+"?csrf_token="+url.QueryEscape(tok), "file", tc.file, tc.data, "name", "Test", "csrf_token", tok)
		errs := pageErrors(r.body)
		if len(errs) == 0 {
			t.Fatalf("%s %q: %d, no error\n%s", tc.form, tc.data, r.code, r.body)
		}
		if !strings.HasPrefix(errs[0], tc.want) || len(det.Check(strings.Join(errs, "\n"))) > 0 {
			t.Errorf("%s %q: errors %q, want %q; English: %v", tc.form, tc.data, errs, tc.want, det.Check(strings.Join(errs, "\n")))
		}
	}
}
