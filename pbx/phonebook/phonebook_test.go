package phonebook

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const yealink = `<?xml version="1.0" encoding="UTF-8"?>
<YealinkIPPhoneDirectory>
  <DirectoryEntry><Name>Erika Muster</Name><Telephone>+49 170 1234567</Telephone><Telephone>030 1234567</Telephone></DirectoryEntry>
  <DirectoryEntry><Name>Ohne Nummer</Name></DirectoryEntry>
</YealinkIPPhoneDirectory>`

const yealinkUnits = `<root_group><Menu Name="Kunden"><Unit Name="Max Mustermann" Phone1="0171 7654321" Phone2="" Phone3="" default_photo="Resource:"/></Menu></root_group>`

const grandstream = `<?xml version="1.0" encoding="UTF-8"?>
<AddressBook>
  <Contact><LastName>Müller</LastName><FirstName>Anna</FirstName>
    <Phone type="Work"><phonenumber>+4917211112222</phonenumber><accountindex>1</accountindex></Phone>
  </Contact>
</AddressBook>`

const csvBook = "Name;Telefon;Firma\nJürgen Schmidt;0173 3334444;ACME\n\"Lisa, Dr.\";+43 660 1234567;\n"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      map[string]string
	}{
		{"yealink", yealink, map[string]string{"+491701234567": "Erika Muster", "+49301234567": "Erika Muster"}},
		{"yealink units", yealinkUnits, map[string]string{"+491717654321": "Max Mustermann"}},
		{"grandstream", grandstream, map[string]string{"+4917211112222": "Anna Müller"}},
		{"csv", csvBook, map[string]string{"+491733334444": "Jürgen Schmidt", "+436601234567": "Lisa, Dr."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.doc), Auto, "DE")
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
	if _, err := Parse([]byte("<html><body>login</body></html>"), Auto, "DE"); !errors.Is(err, ErrFormat) {
		t.Fatalf("an HTML login page: %v, want ErrFormat", err)
	}
}

// The phonebook is fetched over HTTP with basic auth, refreshed, and a
// failed refresh keeps the previous entries; the password never shows.
func TestRemoteRefresh(t *testing.T) {
	var mu sync.Mutex
	doc, status := yealink, http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "pb" || p != "geheim" {
			http.Error(w, "auth", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(doc))
	}))
	defer srv.Close()
	url := strings.Replace(srv.URL, "http://", "http://pb:geheim@", 1) + "/phonebook.xml"
	r, err := New(Config{URL: url, Region: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n, ok := r.NameOf(ctx, "+491701234567"); !ok || n != "Erika Muster" {
		t.Fatalf("NameOf = %q %v", n, ok)
	}
	if n, ok := r.NameOf(ctx, "491701234567"); !ok || n != "Erika Muster" {
		t.Fatalf("NameOf without + = %q %v", n, ok)
	}
	mu.Lock()
	doc = grandstream
	mu.Unlock()
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.NameOf(ctx, "+491701234567"); ok {
		t.Fatal("old entry survived a refresh")
	}
	mu.Lock()
	status = http.StatusInternalServerError
	mu.Unlock()
	err = r.Refresh(ctx)
	if err == nil || strings.Contains(err.Error(), "geheim") {
		t.Fatalf("failed refresh: %v (must fail without the password)", err)
	}
	if n, ok := (Books{r}).NameOf(ctx, "+4917211112222"); !ok || n != "Anna Müller" {
		t.Fatal("entries lost after a failed refresh")
	}
	if s := r.Status(); s.Entries != 1 || s.LastError == "" || strings.Contains(s.URL, "geheim") {
		t.Fatalf("status %+v", s)
	}
	if _, err := New(Config{URL: "ftp://x/y"}); err == nil { // netscope: refused by validation
		t.Fatal("ftp URL accepted")
	}
}
