package msglog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Search limits.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// ErrBadCursor: the cursor was not made by Search.
var ErrBadCursor = errors.New("invalid cursor; use the next_cursor of the previous page")

// Query selects entries. Zero fields do not filter.
type Query struct {
	Direction Direction
	Kind      message.Kind
	Channel   string
	Status    message.Status
	// Text matches the number, name and text, ignoring case; a query of
	// digits (spaces, +, -, / and brackets allowed, a national leading 0
	// too) also matches the number's digits.
	Text string
	// Since and Until bound the time the entries were recorded: Since
	// inclusive, Until exclusive; zero is unbounded. The log is ordered by
	// that time, so a bounded search reads only its range.
	Since, Until time.Time
	// Cursor continues after the last entry of the previous page (its
	// Next); empty starts with the newest.
	Cursor string
	// Limit is the page size: default DefaultLimit, at most MaxLimit.
	Limit int
}

// Page is one page of a search, newest first. Next is the cursor of the
// following (older) page, empty when this is the last.
type Page struct {
	Items []Entry
	Next  string
}

func encodeCursor(key []byte) string {
	return base64.RawURLEncoding.EncodeToString(bytes.TrimPrefix(key, []byte(prefixTime)))
}

func decodeCursor(c string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, ErrBadCursor
	}
	key := prefixTime + string(b)
	if _, _, ok := splitKey(key); !ok {
		return nil, ErrBadCursor
	}
	return []byte(key), nil
}

// matcher is a compiled Query.
type matcher struct {
	q      Query
	lower  string // the text query in lower case
	digits string // the digits of a number query ("" if it is none)
	// raw: the query can be looked for in an entry's stored JSON before
	// decoding it (it has no character JSON would escape).
	raw bool
	// fields are what the stored JSON of a match must contain for the
	// filters (`"status":"failed"`), checked before decoding it.
	fields [][]byte
}

func compile(q Query) matcher {
	m := matcher{q: q, lower: strings.ToLower(strings.TrimSpace(q.Text))}
	for _, f := range []struct{ name, v string }{{"direction", string(q.Direction)}, {"kind", string(q.Kind)},
		{"channel", q.Channel}, {"status", string(q.Status)}} {
		if f.v != "" {
			v, _ := json.Marshal(f.v) // as Entry's JSON has it
			m.fields = append(m.fields, []byte(`"`+f.name+`":`+string(v)))
		}
	}
	m.raw = m.lower != "" && !strings.ContainsFunc(m.lower, func(r rune) bool {
		return r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029 || r == utf8.RuneError
	})
	isNum := m.lower != "" && !strings.ContainsFunc(m.lower, func(r rune) bool {
		return !unicode.IsDigit(r) && !strings.ContainsRune(" +-/()", r)
	})
	if isNum {
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, m.lower)
		if strings.HasPrefix(d, "0") && !strings.HasPrefix(d, "00") {
			d = d[1:] // national 0170… matches +49170…
		}
		d = strings.TrimPrefix(d, "00")
		if len(d) >= 3 {
			m.digits = d
		}
	}
	return m
}

// maybe is the cheap check on the stored JSON: false means the entry
// cannot match the text query.
func (m *matcher) maybe(raw []byte) bool {
	for _, f := range m.fields {
		if !bytes.Contains(raw, f) {
			return false
		}
	}
	if !m.raw {
		return true
	}
	if m.digits != "" && bytes.Contains(raw, []byte(m.digits)) {
		return true
	}
	return containsLower(raw, m.lower)
}

// containsLower reports whether s, lowered rune by rune as strings.ToLower
// does, contains lower; without allocating.
func containsLower(s []byte, lower string) bool {
	if lower == "" {
		return true
	}
	first, _ := utf8.DecodeRuneInString(lower)
	// An ASCII first letter other than i and k (which İ and the Kelvin
	// sign lower to) can only start at its own two bytes: jump to them.
	var jump string
	if first < utf8.RuneSelf && first != 'i' && first != 'k' {
		jump = string(first)
		if 'a' <= first && first <= 'z' {
			jump += string(first - 'a' + 'A')
		}
	}
	for i := 0; i < len(s); {
		if jump != "" {
			j := bytes.IndexAny(s[i:], jump)
			if j < 0 {
				return false
			}
			i += j
		}
		r, n := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(s[i:])
		}
		if lowerRune(r) == first && hasLowerPrefix(s[i:], lower) {
			return true
		}
		i += n
	}
	return false
}

func hasLowerPrefix(s []byte, lower string) bool {
	i := 0
	for _, want := range lower {
		if i >= len(s) {
			return false
		}
		r, n := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRune(s[i:])
		}
		if lowerRune(r) != want {
			return false
		}
		i += n
	}
	return true
}

func lowerRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(r)
}

func (m *matcher) match(e *Entry) bool {
	q := m.q
	if q.Direction != "" && e.Direction != q.Direction || q.Kind != "" && e.Kind != q.Kind ||
		q.Channel != "" && e.Channel != q.Channel || q.Status != "" && e.Status != q.Status {
		return false
	}
	if m.lower == "" {
		return true
	}
	for _, f := range []string{e.Peer, e.Name, e.Text} {
		if strings.Contains(strings.ToLower(f), m.lower) {
			return true
		}
	}
	if m.digits != "" {
		d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, e.Peer)
		return strings.Contains(d, m.digits)
	}
	return false
}

// Search returns the entries matching q, newest first, a page at a time.
// Pages are stable: entries recorded after the first page are newer and
// never show up on later pages, status changes do not move an entry.
func (l *Log) Search(ctx context.Context, q Query) (Page, error) {
	switch {
	case q.Limit <= 0:
		q.Limit = DefaultLimit
	case q.Limit > MaxLimit:
		q.Limit = MaxLimit
	}
	seek := []byte(prefixTime + "~") // after every stamp
	if !q.Until.IsZero() {
		seek = []byte(prefixTime + stamp(q.Until)) // before the first entry at Until
	}
	after := false
	if q.Cursor != "" {
		k, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		if bytes.Compare(k, seek) < 0 {
			seek, after = k, true
		}
	}
	var floor []byte // entries below it are older than Since
	if !q.Since.IsZero() {
		floor = []byte(prefixTime + stamp(q.Since))
	}
	m := compile(q)
	var out Page
	var lastKey, buf []byte
	err := l.st.View(func(txn *store.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse, opts.Prefix = true, []byte(prefixTime)
		// Entries are far below the value threshold, inline in the LSM
		// tree: prefetching would only start goroutines.
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		n := 0
		for it.Seek(seek); it.Valid(); it.Next() {
			item := it.Item()
			if after && bytes.Equal(item.Key(), seek) {
				continue
			}
			if floor != nil && bytes.Compare(item.Key(), floor) < 0 {
				return nil
			}
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var err error
			if buf, err = item.ValueCopy(buf[:0]); err != nil {
				return err
			}
			if !m.maybe(buf) {
				continue
			}
			var e Entry
			if err := json.Unmarshal(buf, &e); err != nil {
				return fmt.Errorf("msglog: damaged entry %s: %w", item.Key(), err)
			}
			if !m.match(&e) {
				continue
			}
			if len(out.Items) == q.Limit {
				// One more match exists: the page has a next one.
				out.Next = encodeCursor(lastKey)
				return nil
			}
			out.Items = append(out.Items, e)
			lastKey = item.KeyCopy(lastKey[:0])
		}
		return nil
	})
	if err != nil {
		return Page{}, err
	}
	return out, nil
}
