package web

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/campaign"
)

func (c *client) upload(path string, fields map[string]string, file []byte) resp {
	c.env.t.Helper()
	body, ct := fileForm(fields, file)
	return c.do("POST", path, body, map[string]string{"Content-Type": ct})
}

func TestContactsImportAndDNCInCampaign(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, engine := withEngine(t, &env)
	env = newEnv(t, opt)
	admin := env.client()
	admin.setup("admin password")
	ctx := context.Background()
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	op.login("olga", "operator password")

	tok := admin.csrf("/contacts")
	vcard := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Muster\r\nTEL;TYPE=cell:0171 1234567\r\nTEL;TYPE=work:030 1234567\r\nEND:VCARD\r\n")
	r := admin.upload("/contacts/phonebooks", map[string]string{"csrf_token": tok, "name": "Team"}, vcard)
	if r.code != http.StatusOK {
		t.Fatalf("vcard import: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, "“Team” was imported.", `id="phonebook-list"`)
	// A binary file is refused next to the file field.
	r = admin.upload("/contacts/phonebooks", map[string]string{"csrf_token": tok, "name": "Bin"}, []byte{0x89, 'P', 'N', 'G', 0, 0, 0, 1, 2, 3})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("binary upload: %d", r.code)
	}
	mustContain(t, r.body, "This is not a CSV text file")

	// Operators may import phonebooks but not do-not-contact lists.
	optok := op.csrf("/contacts")
	dnc := []byte("DNC_Cell\n0171 1234567\nbad\n")
	if r := op.upload("/contacts/dnc", map[string]string{"csrf_token": optok, "name": "Sperre"}, dnc); r.code != http.StatusForbidden {
		t.Fatalf("operator DNC import: %d", r.code)
	}
	r = admin.upload("/contacts/dnc", map[string]string{"csrf_token": tok, "name": "Sperre"}, dnc)
	if r.code != http.StatusOK {
		t.Fatalf("dnc import: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, "“Sperre” was imported.", "1 invalid row:", "Line 3")

	// A campaign with the DNC list excludes the blocked number.
	ctok := admin.csrf("/campaigns/new")
	mustContain(t, admin.body, `name="dnc" value="Sperre"`)
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"csrf_token": ctok, "name": "mit Sperre", "sender": "gsm|", "numbers": "0171 1234567\n0151 23456789", "text": "Hallo", "send": "now"} {
		w.WriteField(k, v)
	}
	w.WriteField("dnc", "Sperre")
	w.Close()
	r = admin.do("POST", "/campaigns/new", &buf, map[string]string{"Content-Type": w.FormDataContentType()})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	camp := waitState(t, engine(), m[1], campaign.Completed)
	if camp.Counts.Excluded != 1 || camp.Counts.Delivered != 1 {
		t.Fatalf("counts = %+v, want 1 excluded and 1 delivered", camp.Counts)
	}
	r = admin.get("/campaigns/" + m[1])
	mustContain(t, r.body, "Excluded")

	// Delete the list (admin).
	r = admin.post("/contacts/dnc/Sperre/delete", formVals("csrf_token", tok))
	mustContain(t, r.body, `id="confirm-page"`, "Yes, delete the do-not-contact list “Sperre” with all its numbers.")
	mustContain(t, admin.get("/contacts").body, "Sperre")
	r = admin.post("/contacts/dnc/Sperre/delete", formVals("csrf_token", tok, "confirm", "yes"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.code)
	}
	mustContain(t, admin.get("/contacts").body, "Deleted.", "No do-not-contact lists yet.")
}
