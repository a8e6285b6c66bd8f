package web

import (
	"net/http"
	"strings"
	"testing"
)

// TestPhonebookDeleteConfirmed: deleting a phonebook without the
// confirmation shows the German confirmation page (posting back to the
// same address with the form's fields) and keeps the phonebook; with
// confirm=yes it goes. The API's DELETE needs no confirmation step.
func TestPhonebookDeleteConfirmed(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.client()
	admin.setup("admin password")
	tok := admin.csrf("/contacts")
	vcard := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Muster\r\nTEL;TYPE=cell:0171 1234567\r\nEND:VCARD\r\n")
	if r := admin.upload("/contacts/phonebooks", map[string]string{"csrf_token": tok, "name": "Team"}, vcard); r.code != http.StatusOK {
		t.Fatalf("import: %d", r.code)
	}
	admin.lang = "de"
	admin.get("/lang/de")
	r := admin.get("/contacts")
	mustContain(t, r.body, `action="/contacts/phonebooks/Team/delete" class="inline" data-confirm="Ja, das Telefonbuch „Team“ mit allen Kontakten löschen."`)

	r = admin.post("/contacts/phonebooks/Team/delete", formVals("csrf_token", tok, "keep", "this"))
	if r.code != http.StatusOK {
		t.Fatalf("unconfirmed: %d", r.code)
	}
	mustContain(t, r.body, "Löschen bestätigen", "Ja, das Telefonbuch „Team“ mit allen Kontakten löschen.",
		`action="/contacts/phonebooks/Team/delete"`, `<input type="hidden" name="keep" value="this">`)
	if strings.Count(r.body, `name="csrf_token"`) < 1 {
		t.Fatal("confirmation form lacks the CSRF token")
	}
	// Still there.
	mustContain(t, admin.get("/contacts").body, `/contacts/phonebooks/Team/delete`)

	r = admin.post("/contacts/phonebooks/Team/delete", formVals("csrf_token", tok, "confirm", "yes"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("confirmed: %d", r.code)
	}
	if strings.Contains(admin.get("/contacts").body, `/contacts/phonebooks/Team/delete`) {
		t.Fatal("phonebook still listed after the confirmed delete")
	}
}
