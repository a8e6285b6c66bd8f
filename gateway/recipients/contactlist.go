package recipients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// A contact list (seed 001: "Kontaktliste") is a named, living list of
// contacts: a number and the other columns of the file it came from
// (amount_owed, due_date …). Unlike a phonebook it is never replaced
// generation by generation under a campaign's feet: contacts are appended
// with increasing sequence numbers, so an "always running" campaign that has
// taken every contact up to sequence N sends to exactly those after N
// (see campaign's list feed). Replacing a list's contents keeps counting:
// the new contacts get new sequence numbers.
//
// Keys: "recipients/cl/<escaped name>" holds the ContactList; its contacts
// are "recipients/cle/<escaped name>/<seq %012d>".

// MaxListContacts bounds one contact list.
const MaxListContacts = MaxPhonebookEntries

// maxAppend bounds one append (one store transaction).
const maxAppend = 5000

// ContactList describes a stored contact list.
type ContactList struct {
	Name string `json:"name"`
	// Columns are the variable names of the list's columns besides the
	// number, in first-seen order.
	Columns   []string  `json:"columns"`
	Contacts  int       `json:"contacts"`
	LastSeq   uint64    `json:"last_seq"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Contact is one contact of a list.
type Contact struct {
	Seq    uint64            `json:"seq"`
	Number string            `json:"number"` // E.164
	Fields map[string]string `json:"fields,omitempty"`
	Line   int               `json:"line,omitempty"` // line of the file it came from
}

// ContactLists stores contact lists in Badger (through gateway/store).
type ContactLists struct {
	st *store.Store
}

// NewContactLists returns the contact lists kept in st.
func NewContactLists(st *store.Store) *ContactLists { return &ContactLists{st: st} }

func clMetaKey(name string) string { return prefix + "cl/" + url.PathEscape(name) }
func clItemPrefix(name string) string {
	return prefix + "cle/" + url.PathEscape(name) + "/"
}
func clItemKey(name string, seq uint64) string {
	return fmt.Sprintf("%s%012d", clItemPrefix(name), seq)
}

// ErrListName: the name of a contact list is empty or too long.
var ErrListName = errors.New("a contact list needs a name of 1 to 64 characters")

func checkListName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 64 {
		return "", ErrListName
	}
	return name, nil
}

// Get returns the description of contact list name (ErrNoList when absent).
func (l *ContactLists) Get(_ context.Context, name string) (ContactList, error) {
	var m ContactList
	err := l.st.View(func(txn *store.Txn) error { return store.GetJSON(txn, clMetaKey(name), &m) })
	if errors.Is(err, store.ErrNotFound) {
		return m, fmt.Errorf("%w: contact list %q", ErrNoList, name)
	}
	return m, err
}

// All returns every contact list, by name.
func (l *ContactLists) All(ctx context.Context) ([]ContactList, error) {
	var out []ContactList
	err := l.st.View(func(txn *store.Txn) error {
		return store.Each(txn, prefix+"cl/", func(_ string, v []byte) error {
			var m ContactList
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return ctx.Err()
		})
	})
	slices.SortFunc(out, func(a, b ContactList) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// Append adds contacts to list name (creating it), skipping numbers already
// in the list (reported as Duplicates) and invalid ones (Invalid). Numbers
// are normalised in region. It returns the list as stored.
func (l *ContactLists) Append(ctx context.Context, name string, in []Recipient, region string) (ContactList, Result, error) {
	name, err := checkListName(name)
	if err != nil {
		return ContactList{}, Result{}, err
	}
	var res Result
	var ok []Recipient
	for i, r := range in {
		n, err := Normalize(r.Number, region)
		line := r.Line
		if line == 0 {
			line = i + 1
		}
		if err != nil {
			res.Invalid = append(res.Invalid, Problem{Line: line, Input: r.Number, Reason: err.Error(), ReasonCode: message.ReasonOf(err)})
			continue
		}
		ok = append(ok, Recipient{Number: n, Vars: r.Vars, Line: line})
	}
	var meta ContactList
	for start := 0; start < len(ok) || start == 0; start += maxAppend {
		chunk := ok[start:min(len(ok), start+maxAppend)]
		var dups []Duplicate
		var valid []Recipient
		err := l.st.Update(func(txn *store.Txn) error {
			dups, valid = dups[:0], valid[:0]
			meta = ContactList{}
			now := time.Now().UTC()
			if err := store.GetJSON(txn, clMetaKey(name), &meta); errors.Is(err, store.ErrNotFound) {
				meta = ContactList{Name: name, CreatedAt: now}
			} else if err != nil {
				return err
			}
			known, err := l.numbers(txn, name)
			if err != nil {
				return err
			}
			for _, r := range chunk {
				if first, seen := known[r.Number]; seen {
					dups = append(dups, Duplicate{Line: r.Line, FirstLine: first, Number: r.Number})
					continue
				}
				if meta.Contacts >= MaxListContacts {
					return fmt.Errorf("%w: contact list %q has %d contacts, at most %d are allowed", ErrTooMany, name, meta.Contacts, MaxListContacts)
				}
				known[r.Number] = r.Line
				meta.LastSeq++
				meta.Contacts++
				c := Contact{Seq: meta.LastSeq, Number: r.Number, Fields: r.Vars, Line: r.Line}
				for _, k := range slices.Sorted(maps.Keys(r.Vars)) {
					if !slices.Contains(meta.Columns, k) {
						meta.Columns = append(meta.Columns, k)
					}
				}
				if err := store.SetJSON(txn, clItemKey(name, c.Seq), c); err != nil {
					return err
				}
				valid = append(valid, r)
			}
			meta.UpdatedAt = now
			return store.SetJSON(txn, clMetaKey(name), meta)
		})
		if err != nil {
			return meta, res, fmt.Errorf("store contact list %q: %w", name, err)
		}
		res.Duplicates = append(res.Duplicates, dups...)
		res.Valid = append(res.Valid, valid...)
		if err := ctx.Err(); err != nil {
			return meta, res, err
		}
	}
	return meta, res, nil
}

// numbers maps the numbers of list name to the line they came from.
func (l *ContactLists) numbers(txn *store.Txn, name string) (map[string]int, error) {
	known := map[string]int{}
	err := store.Each(txn, clItemPrefix(name), func(_ string, v []byte) error {
		var c Contact
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		known[c.Number] = c.Line
		return nil
	})
	return known, err
}

// ImportCSV appends the contacts of a CSV file to list name (replace:
// removes the old contacts first; sequence numbers keep counting). The
// phone column is detected as for campaigns (CSVOptions); every other
// column becomes a field named like a recipient variable.
func (l *ContactLists) ImportCSV(ctx context.Context, name string, r io.Reader, o CSVOptions, replace bool) (ContactList, Result, error) {
	name, err := checkListName(name)
	if err != nil {
		return ContactList{}, Result{}, err
	}
	o.Limit = MaxListContacts
	parsed, err := ImportCSV(r, o)
	if err != nil {
		return ContactList{}, parsed, err
	}
	if replace {
		if err := l.clear(ctx, name); err != nil {
			return ContactList{}, parsed, err
		}
	}
	meta, res, err := l.Append(ctx, name, parsed.Valid, o.Region)
	res.Invalid = append(parsed.Invalid, res.Invalid...)
	res.Duplicates = append(parsed.Duplicates, res.Duplicates...)
	return meta, res, err
}

// clear removes the contacts of list name but keeps its description (and
// its sequence counter).
func (l *ContactLists) clear(ctx context.Context, name string) error {
	if err := deletePrefix(ctx, l.st, clItemPrefix(name)); err != nil {
		return fmt.Errorf("clear contact list %q: %w", name, err)
	}
	return l.st.Update(func(txn *store.Txn) error {
		var m ContactList
		if err := store.GetJSON(txn, clMetaKey(name), &m); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		m.Contacts, m.UpdatedAt = 0, time.Now().UTC()
		return store.SetJSON(txn, clMetaKey(name), m)
	})
}

// Delete removes contact list name.
func (l *ContactLists) Delete(ctx context.Context, name string) error {
	if _, err := l.Get(ctx, name); err != nil {
		return err
	}
	if err := deletePrefix(ctx, l.st, clItemPrefix(name)); err != nil {
		return err
	}
	return l.st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(clMetaKey(name))) })
}

// Contacts returns the contacts of list name with a sequence number after
// after, in sequence order.
func (l *ContactLists) Contacts(ctx context.Context, name string, after uint64) ([]Contact, error) {
	if _, err := l.Get(ctx, name); err != nil {
		return nil, err
	}
	var out []Contact
	err := l.st.View(func(txn *store.Txn) error {
		return store.EachFrom(txn, clItemPrefix(name), clItemKey(name, after+1), func(_ string, v []byte) error {
			var c Contact
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			out = append(out, c)
			return ctx.Err()
		})
	})
	return out, err
}

// Selection is what Select returns: the matching contacts in send order
// and the highest sequence number the list had when they were read.
type Selection struct {
	Recipients []Recipient
	LastSeq    uint64
	Matched    int // contacts that matched the filters
	Filtered   int // contacts the filters left out
}

// Select returns the contacts of list name after sequence after that match
// q's filters, sorted by q's sort keys, as campaign recipients (variables:
// the contact's fields).
func (l *ContactLists) Select(ctx context.Context, name string, after uint64, q Query) (Selection, error) {
	meta, err := l.Get(ctx, name)
	if err != nil {
		return Selection{}, err
	}
	if err := q.Validate(); err != nil {
		return Selection{}, err
	}
	cs, err := l.Contacts(ctx, name, after)
	if err != nil {
		return Selection{}, err
	}
	sel := Selection{LastSeq: meta.LastSeq}
	if n := len(cs); n > 0 && cs[n-1].Seq > sel.LastSeq {
		sel.LastSeq = cs[n-1].Seq // appended after Get
	}
	kept := q.Apply(cs)
	sel.Matched, sel.Filtered = len(kept), len(cs)-len(kept)
	sel.Recipients = make([]Recipient, len(kept))
	for i, c := range kept {
		sel.Recipients[i] = Recipient{Number: c.Number, Vars: c.Fields, Line: int(c.Seq)}
	}
	return sel, nil
}
