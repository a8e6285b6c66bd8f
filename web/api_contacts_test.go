package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

func TestAPIPhonebooksAndDNCLists(t *testing.T) {
	t.Parallel()
	env, admin, op := newAPIEnv(t)
	ctx := context.Background()

	// An operator imports a vCard phonebook as multipart, like the form.
	vcard := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Muster\r\nTEL;TYPE=cell:0171 1234567\r\nTEL;TYPE=work:030 1234567\r\nEND:VCARD\r\n")
	r := op.upload("/phonebooks", map[string]string{"name": "Team"}, vcard)
	var imp app.ContactImport
	if jsonInto(t, r, http.StatusCreated, &imp); imp.Phonebook == nil || imp.Phonebook.Entries != 1 || imp.Phonebook.Numbers != 2 {
		t.Fatalf("vcard import: %d %s", r.code, r.body)
	}
	// A raw CSV body with ?name=; the bad row comes back with its line.
	r = op.call("POST", "/phonebooks?name=Kunden", "", "text/csv")
	wantAPIError(t, r, http.StatusUnprocessableEntity, "required", "file")
	r = op.c.do("POST", "/api/v1/phonebooks?name=Kunden", strings.NewReader("name,mobile\nAnna,0171 1234567\nBert,12\n"),
		map[string]string{"Authorization": "Bearer " + op.tok, "Content-Type": "text/csv"})
	imp = app.ContactImport{}
	if jsonInto(t, r, http.StatusCreated, &imp); imp.Phonebook.Entries != 1 || len(imp.Problems) == 0 || imp.Problems[0].Line != 3 {
		t.Fatalf("csv import: %d %s", r.code, r.body)
	}
	// Validation: the name, a binary file, a file without phone numbers.
	wantAPIError(t, op.upload("/phonebooks", map[string]string{"name": ""}, vcard), http.StatusUnprocessableEntity, "invalid", "name")
	wantAPIError(t, op.upload("/phonebooks", map[string]string{"name": "Bin"}, []byte{0x89, 'P', 'N', 'G', 0, 0, 0, 1, 2, 3}),
		http.StatusUnprocessableEntity, "not_text", "file")
	wantAPIError(t, op.upload("/phonebooks", map[string]string{"name": "Leer"}, []byte("a,b\nx,y\n")), http.StatusUnprocessableEntity, "no_phone_column", "file")

	var pb struct {
		Phonebook recipients.Phonebook `json:"phonebook"`
		app.Page[recipients.Entry]
	}
	op.ok("GET", "/phonebooks/Team?limit=1", "", http.StatusOK, &pb)
	if pb.Phonebook.Name != "Team" || pb.Total != 1 || len(pb.Items) != 1 || pb.Items[0].Name != "Anna Muster" || len(pb.Items[0].Numbers) != 2 {
		t.Fatalf("phonebook: %+v", pb)
	}
	wantAPIError(t, op.call("GET", "/phonebooks/Nope", ""), http.StatusNotFound, "not_found", "")
	wantAPIError(t, op.call("GET", "/phonebooks/Team?limit=0", ""), http.StatusBadRequest, "invalid", "limit")

	// Do-not-contact lists and deleting are for admins.
	dnc := []byte("DNC_Cell\n0171 1234567\nbad\n")
	wantAPIError(t, op.upload("/dnc-lists", map[string]string{"name": "Sperre"}, dnc), http.StatusForbidden, "forbidden", "")
	wantAPIError(t, op.call("DELETE", "/phonebooks/Team", ""), http.StatusForbidden, "forbidden", "")
	r = admin.upload("/dnc-lists", map[string]string{"name": "Sperre"}, dnc)
	imp = app.ContactImport{}
	if jsonInto(t, r, http.StatusCreated, &imp); imp.DNCList == nil || imp.DNCList.Numbers != 1 || len(imp.Problems) != 1 || imp.Problems[0].Line != 3 {
		t.Fatalf("dnc import: %d %s", r.code, r.body)
	}
	var l recipients.DNCList
	op.ok("GET", "/dnc-lists/Sperre", "", http.StatusOK, &l)
	if l.Numbers != 1 || l.Invalid != 1 {
		t.Fatalf("dnc list: %+v", l)
	}
	if !env.auditHas("contacts.import", "dnc: Sperre") {
		t.Fatal("the DNC import is not in the audit log")
	}
	admin.ok("DELETE", "/dnc-lists/Sperre", "", http.StatusNoContent, nil)
	wantAPIError(t, admin.call("DELETE", "/dnc-lists/Sperre", ""), http.StatusNotFound, "not_found", "")
	wantAPIError(t, op.call("GET", "/dnc-lists/Sperre", ""), http.StatusNotFound, "not_found", "")
	admin.ok("DELETE", "/phonebooks/Team", "", http.StatusNoContent, nil)
	if list, _ := recipients.NewPhonebooks(env.store).All(ctx); len(list) != 1 || list[0].Name != "Kunden" {
		t.Fatalf("phonebooks after delete: %+v", list)
	}
	if !env.auditHas("contacts.delete", "phonebook: Team") {
		t.Fatal("the phonebook deletion is not in the audit log")
	}
}

func TestAPIBlacklist(t *testing.T) {
	t.Parallel()
	var cons *consent.Consent
	env, admin, op := newAPIEnv(t, func(d *app.Deps) {
		var err error
		if cons, err = consent.New(consent.Config{Store: d.Store, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		d.Consent = cons
	})
	ctx := context.Background()
	if err := cons.OptOut(ctx, "+4915123456789", "STOP", "gsm"); err != nil {
		t.Fatal(err)
	}
	var outs app.Page[consent.OptOut]
	op.ok("GET", "/opt-outs", "", http.StatusOK, &outs)
	if outs.Total != 1 || outs.Items[0].Keyword != "STOP" {
		t.Fatalf("opt-outs: %+v", outs)
	}

	wantAPIError(t, op.call("POST", "/blacklist", `{"entry":"+4917012345678"}`), http.StatusForbidden, "forbidden", "")
	wantAPIError(t, admin.call("POST", "/blacklist", `{"entry":""}`), http.StatusUnprocessableEntity, "required", "entry")
	wantAPIError(t, admin.call("POST", "/blacklist", `{"entry":"+49900*","days":0}`), http.StatusUnprocessableEntity, "invalid", "days")
	wantAPIError(t, admin.call("POST", "/blacklist", `{"entry":"+49900*","direction":"sideways"}`), http.StatusUnprocessableEntity, "invalid", "direction")
	wantAPIError(t, admin.call("POST", "/blacklist", `{"number":"+4917012345678","prefix":"+49900"}`), http.StatusUnprocessableEntity, "invalid", "entry")
	wantAPIError(t, admin.call("POST", "/blacklist", `{"entry":`), http.StatusBadRequest, "bad_json", "")

	var e consent.Entry
	admin.ok("POST", "/blacklist", `{"prefix":"+49900","direction":"send","reason":"Mehrwertdienste","days":30}`, http.StatusCreated, &e)
	if e.Prefix != "+49900" || e.Until.IsZero() || e.ID == "" {
		t.Fatalf("blocked: %+v", e)
	}
	if _, blocked := cons.SendBlacklisted(ctx, "+499001234567"); !blocked {
		t.Fatal("prefix not blocked")
	}
	admin.ok("POST", "/blacklist", `{"number":"+4917012345678"}`, http.StatusCreated, nil)
	var list app.Page[consent.Entry]
	op.ok("GET", "/blacklist?limit=1", "", http.StatusOK, &list)
	if list.Total != 2 || len(list.Items) != 1 || list.Limit != 1 {
		t.Fatalf("blacklist page: %+v", list)
	}
	if !env.auditHas("blacklist.add", "+49900 (send)") {
		t.Fatal("the block is not in the audit log")
	}
	wantAPIError(t, op.call("DELETE", "/blacklist/"+e.ID, ""), http.StatusForbidden, "forbidden", "")
	admin.ok("DELETE", "/blacklist/"+e.ID, "", http.StatusNoContent, nil)
	wantAPIError(t, admin.call("DELETE", "/blacklist/"+e.ID, ""), http.StatusNotFound, "not_found", "")
	if _, blocked := cons.SendBlacklisted(ctx, "+499001234567"); blocked {
		t.Fatal("prefix still blocked")
	}
}
