package recipients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// NumberType classifies a phonebook number, as the seeds' "Zahlentyp".
type NumberType string

const (
	Mobile NumberType = "mobile"
	Work   NumberType = "work"
	Home   NumberType = "home"
	Other  NumberType = "other"
)

// MaxPhonebookEntries bounds one phonebook.
const MaxPhonebookEntries = 50_000

// PhoneNumber is one typed number of an entry.
type PhoneNumber struct {
	Type   NumberType `json:"type"`
	Number string     `json:"number"` // E.164
}

// Entry is one contact of a phonebook.
type Entry struct {
	Name      string        `json:"name"` // display name (vCard FN)
	FirstName string        `json:"first_name,omitempty"`
	LastName  string        `json:"last_name,omitempty"`
	Numbers   []PhoneNumber `json:"numbers"`
	Line      int           `json:"line,omitempty"` // where it started in the imported file
}

// Phonebook describes a stored phonebook.
type Phonebook struct {
	Name       string    `json:"name"`
	Entries    int       `json:"entries"`
	Numbers    int       `json:"numbers"`
	Source     string    `json:"source"` // "csv" or "vcard"
	ImportedAt time.Time `json:"imported_at"`
	Gen        uint64    `json:"gen"`
}

// PhonebookImport is the outcome of an import: what was stored and what was
// rejected (with lines).
type PhonebookImport struct {
	Phonebook Phonebook `json:"phonebook"`
	Invalid   []Problem `json:"invalid,omitempty"`
}

// Phonebooks stores pbxgate's own phonebooks in Badger.
type Phonebooks struct {
	st *store.Store
}

// NewPhonebooks returns the phonebooks kept in st.
func NewPhonebooks(st *store.Store) *Phonebooks { return &Phonebooks{st: st} }

// typeOfHeader maps a CSV column header to a number type.
func typeOfHeader(h string) NumberType {
	h = strings.ToLower(h)
	for _, w := range []string{"mobil", "cell", "handy", "gsm", "whatsapp"} {
		if strings.Contains(h, w) {
			return Mobile
		}
	}
	for _, w := range []string{"work", "office", "business", "büro", "buero", "geschäft", "geschaeft", "dienst", "arbeit", "firma"} {
		if strings.Contains(h, w) {
			return Work
		}
	}
	for _, w := range []string{"home", "privat", "festnetz", "house"} {
		if strings.Contains(h, w) {
			return Home
		}
	}
	return Other
}

var (
	firstNameHeaders = []string{"first name", "first_name", "firstname", "vorname", "given name"}
	lastNameHeaders  = []string{"last name", "last_name", "lastname", "nachname", "surname", "family name"}
	nameHeaders      = []string{"name", "full name", "display name", "fn", "kontakt", "contact"}
)

// markTypedPhoneColumns adds the columns a phonebook header types (Büro,
// Privat…) or whose values are numbers to the detected phone columns.
func markTypedPhoneColumns(f *csvFile, cols []Column, region string) {
	for i := range cols {
		c := &cols[i]
		if c.Phone || headerIs(c.Header, firstNameHeaders...) || headerIs(c.Header, lastNameHeaders...) || headerIs(c.Header, nameHeaders...) {
			continue
		}
		if typeOfHeader(c.Header) != Other {
			c.Phone = true
			continue
		}
		valid, filled := 0, 0
		for _, r := range f.records[:min(len(f.records), 20)] {
			if i < len(r.fields) && r.fields[i] != "" {
				filled++
				if _, err := Normalize(r.fields[i], region); err == nil {
					valid++
				}
			}
		}
		c.Phone = filled > 0 && valid*2 >= filled
	}
}

func headerIs(h string, words ...string) bool {
	h = strings.ToLower(strings.TrimSpace(h))
	for _, w := range words {
		if h == w {
			return true
		}
	}
	return false
}

// ImportCSV stores a phonebook from a CSV file with a header row: name
// columns (name, first_name/vorname, last_name/nachname) and phone columns
// typed by their header (mobile/cell/handy, work/büro, home/privat, other).
func (p *Phonebooks) ImportCSV(ctx context.Context, name string, r io.Reader, o CSVOptions) (PhonebookImport, error) {
	b, err := readAllLimited(r)
	if err != nil {
		return PhonebookImport{}, err
	}
	o.Header = HeaderYes
	f, err := parseFile(b, o)
	if err != nil {
		return PhonebookImport{Invalid: f.broken}, err
	}
	cols, err := f.columns(o)
	if err != nil {
		return PhonebookImport{Invalid: f.broken}, err
	}
	if len(o.PhoneColumns) == 0 {
		markTypedPhoneColumns(f, cols, o.Region)
	}
	out := PhonebookImport{Invalid: f.broken}
	var entries []Entry
	for _, rec := range f.records {
		if isBlank(rec.fields) {
			continue
		}
		e := Entry{Line: rec.line}
		for i, c := range cols {
			if i >= len(rec.fields) || rec.fields[i] == "" {
				continue
			}
			v := rec.fields[i]
			switch {
			case c.Phone:
				n, err := Normalize(v, o.Region)
				if err != nil {
					out.Invalid = append(out.Invalid, Problem{Line: rec.line, Column: colName(c), Input: v, Reason: err.Error(), ReasonCode: message.ReasonOf(err)})
					continue
				}
				e.Numbers = append(e.Numbers, PhoneNumber{Type: typeOfHeader(c.Header), Number: n})
			case headerIs(c.Header, firstNameHeaders...):
				e.FirstName = v
			case headerIs(c.Header, lastNameHeaders...):
				e.LastName = v
			case headerIs(c.Header, nameHeaders...):
				e.Name = v
			}
		}
		if e.Name == "" {
			e.Name = strings.TrimSpace(e.FirstName + " " + e.LastName)
		}
		if len(e.Numbers) == 0 {
			out.Invalid = append(out.Invalid, Problem{Line: rec.line, Input: strings.Join(rec.fields, string(f.delim)), Reason: "no valid phone number", ReasonCode: rCSVNoValidNumber.R()})
			continue
		}
		entries = append(entries, e)
	}
	sortProblems(out.Invalid)
	pb, err := p.store(ctx, name, "csv", entries)
	out.Phonebook = pb
	return out, err
}

// ImportVCard stores a phonebook from a vCard 2.1/3.0/4.0 file: FN, N and
// TEL with TYPE=cell/work/home (also "TEL;CELL:" and quoted type lists).
func (p *Phonebooks) ImportVCard(ctx context.Context, name string, r io.Reader, region string) (PhonebookImport, error) {
	b, err := readAllLimited(r)
	if err != nil {
		return PhonebookImport{}, err
	}
	entries, problems := parseVCards(b, region)
	out := PhonebookImport{Invalid: problems}
	pb, err := p.store(ctx, name, "vcard", entries)
	out.Phonebook = pb
	return out, err
}

func (p *Phonebooks) store(ctx context.Context, name, source string, entries []Entry) (Phonebook, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Phonebook{}, errors.New("a phonebook needs a name")
	}
	if len(entries) == 0 {
		return Phonebook{}, fmt.Errorf("phonebook %q: %w (no contact with one)", name, ErrNoValidNumber)
	}
	if len(entries) > MaxPhonebookEntries {
		return Phonebook{}, fmt.Errorf("%w: phonebook %q: %d contacts, at most %d are allowed", ErrTooMany, name, len(entries), MaxPhonebookEntries)
	}
	pb := Phonebook{Name: name, Entries: len(entries), Source: source, ImportedAt: time.Now().UTC()}
	items := make(map[string][]byte, len(entries))
	for i, e := range entries {
		pb.Numbers += len(e.Numbers)
		v, err := json.Marshal(e)
		if err != nil {
			return pb, err
		}
		items[fmt.Sprintf("%06d", i)] = v
	}
	old, err := p.Get(ctx, name)
	if err == nil {
		pb.Gen = old.Gen
	} else if !errors.Is(err, ErrNoList) {
		return pb, err
	}
	pb.Gen++
	if err := writeItems(p.st, itemPrefix("pb", name, pb.Gen), items); err != nil {
		return pb, err
	}
	if err := p.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, metaKey("pb", name), pb) }); err != nil {
		return pb, fmt.Errorf("store phonebook %q: %w", name, err)
	}
	if pb.Gen > 1 {
		return pb, deletePrefix(ctx, p.st, itemPrefix("pb", name, pb.Gen-1))
	}
	return pb, nil
}

// Get returns the metadata of phonebook name.
func (p *Phonebooks) Get(_ context.Context, name string) (Phonebook, error) {
	return getMeta[Phonebook](p.st, "pb", "phonebook", name)
}

// All returns every phonebook, by name.
func (p *Phonebooks) All(ctx context.Context) ([]Phonebook, error) {
	return allMeta(ctx, p.st, "pb", func(m Phonebook) string { return m.Name })
}

// Delete removes phonebook name.
func (p *Phonebooks) Delete(ctx context.Context, name string) error {
	m, err := p.Get(ctx, name)
	if err != nil {
		return err
	}
	return deleteList(ctx, p.st, "pb", name, m.Gen)
}

// Entries returns the contacts of phonebook name in import order.
func (p *Phonebooks) Entries(ctx context.Context, name string) ([]Entry, error) {
	m, err := p.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []Entry
	err = p.st.View(func(txn *store.Txn) error {
		return store.Each(txn, itemPrefix("pb", name, m.Gen), func(_ string, v []byte) error {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return ctx.Err()
		})
	})
	return out, err
}

// Select returns the recipients of phonebook name whose numbers have one of
// types (all types when empty), with the variables name, first_name and
// last_name. Numbers in several entries are counted as duplicates.
func (p *Phonebooks) Select(ctx context.Context, name string, types []NumberType, limit int) (Result, error) {
	entries, err := p.Entries(ctx, name)
	if err != nil {
		return Result{}, err
	}
	want := map[NumberType]bool{}
	for _, t := range types {
		want[t] = true
	}
	c := newCollector()
	for i, e := range entries {
		vars := map[string]string{}
		for k, v := range map[string]string{"name": e.Name, "first_name": e.FirstName, "last_name": e.LastName} {
			if v != "" {
				vars[k] = v
			}
		}
		for _, n := range e.Numbers {
			if len(want) == 0 || want[n.Type] {
				c.add(Recipient{Number: n.Number, Vars: vars, Line: i + 1})
			}
		}
	}
	return c.finish(limit)
}

// parseVCards reads every BEGIN:VCARD…END:VCARD block.
func parseVCards(b []byte, region string) ([]Entry, []Problem) {
	lines := unfold(b)
	var (
		entries  []Entry
		problems []Problem
		cur      *Entry
	)
	for _, ln := range lines {
		nameParams, value, ok := strings.Cut(ln.text, ":")
		if !ok {
			continue
		}
		parts := strings.Split(nameParams, ";")
		prop := strings.ToUpper(parts[0])
		if i := strings.LastIndexByte(prop, '.'); i >= 0 { // item1.TEL
			prop = prop[i+1:]
		}
		switch {
		case prop == "BEGIN" && strings.EqualFold(value, "VCARD"):
			cur = &Entry{Line: ln.line}
		case prop == "END" && strings.EqualFold(value, "VCARD"):
			if cur == nil {
				continue
			}
			if cur.Name == "" {
				cur.Name = strings.TrimSpace(cur.FirstName + " " + cur.LastName)
			}
			if len(cur.Numbers) == 0 {
				problems = append(problems, Problem{Line: cur.Line, Input: cur.Name, Reason: "contact has no valid phone number", ReasonCode: rVCardNoNumber.R()})
			} else {
				entries = append(entries, *cur)
			}
			cur = nil
		case cur == nil:
		case prop == "FN":
			cur.Name = unescapeVCard(value)
		case prop == "N":
			f := strings.Split(value, ";")
			cur.LastName = unescapeVCard(f[0])
			if len(f) > 1 {
				cur.FirstName = unescapeVCard(f[1])
			}
		case prop == "TEL":
			num := strings.TrimPrefix(strings.TrimPrefix(value, "tel:"), "TEL:")
			if i := strings.Index(num, ";ext="); i >= 0 {
				num = num[:i]
			}
			n, err := Normalize(num, region)
			if err != nil {
				problems = append(problems, Problem{Line: ln.line, Input: value, Reason: err.Error(), ReasonCode: message.ReasonOf(err)})
				continue
			}
			cur.Numbers = append(cur.Numbers, PhoneNumber{Type: telType(parts[1:]), Number: n})
		}
	}
	return entries, problems
}

func telType(params []string) NumberType {
	var types []string
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok { // vCard 2.1: TEL;CELL:
			types = append(types, k)
			continue
		}
		if strings.EqualFold(k, "TYPE") {
			types = append(types, strings.Split(strings.Trim(v, `"`), ",")...)
		}
	}
	res := Other
	for _, t := range types {
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "cell", "mobile", "iphone":
			return Mobile
		case "work":
			res = Work
		case "home":
			if res == Other {
				res = Home
			}
		}
	}
	return res
}

func unescapeVCard(s string) string {
	r := strings.NewReplacer(`\,`, ",", `\;`, ";", `\n`, " ", `\N`, " ", `\\`, `\`)
	return strings.TrimSpace(r.Replace(s))
}

type vline struct {
	line int
	text string
}

// unfold joins folded vCard lines (continuations start with a space or tab).
func unfold(b []byte) []vline {
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	var out []vline
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), MaxFileSize)
	n := 0
	for sc.Scan() {
		n++
		t := strings.TrimRight(sc.Text(), "\r")
		if (strings.HasPrefix(t, " ") || strings.HasPrefix(t, "\t")) && len(out) > 0 {
			out[len(out)-1].text += t[1:]
			continue
		}
		if strings.TrimSpace(t) == "" {
			continue
		}
		out = append(out, vline{line: n, text: t})
	}
	return out
}
