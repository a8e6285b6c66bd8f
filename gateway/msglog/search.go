package msglog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	// numDigits: the digits of a number query, national 0 and
	// international 00 removed, however short ("" if it is none).
	numDigits string
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
		m.numDigits = d
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

// clauses are what the index can look up for m: each clause is a list
// of term prefixes (alternatives), and a match has a term of every
// clause. No clauses: the index cannot narrow the search.
func (m *matcher) clauses() [][]string {
	// Most selective first: the text, then channel and status, then kind
	// and direction (two values each). Once a clause is small, the next
	// ones are read only as far as its size.
	var cs [][]string
	q := m.q
	ws := words(m.lower)
	switch {
	case m.numDigits != "":
		alt := []string{string(tNumber) + m.numDigits, string(tReversed) + reverse(m.numDigits)}
		if len(ws) > 0 {
			alt = append(alt, string(tWord)+ws[0])
		}
		cs = append(cs, alt)
	default:
		for _, w := range ws {
			cs = append(cs, []string{string(tWord) + w})
		}
	}
	for _, f := range []struct {
		t byte
		v string
	}{{tChannel, q.Channel}, {tStatus, string(q.Status)}, {tKind, string(q.Kind)}, {tDirection, string(q.Direction)}} {
		if f.v != "" {
			cs = append(cs, []string{filterTerm(f.t, f.v)})
		}
	}
	return cs
}

// searcher is one Search in its read transaction.
type searcher struct {
	ctx     context.Context
	txn     *store.Txn
	m       matcher
	limit   int
	out     Page
	lastKey []byte
	buf     []byte
	n       int
}

// emit adds a match; done: the page is full (and Next set).
func (s *searcher) emit(key []byte, e Entry) (done bool) {
	if len(s.out.Items) == s.limit {
		// One more match exists: the page has a next one.
		s.out.Next = encodeCursor(s.lastKey)
		return true
	}
	s.out.Items = append(s.out.Items, e)
	s.lastKey = append(s.lastKey[:0], key...)
	return false
}

func (s *searcher) tick() error {
	if s.n++; s.n%1024 == 0 {
		return s.ctx.Err()
	}
	return nil
}

// consider checks the entry at key (value raw) and emits it if it matches.
func (s *searcher) consider(key, raw []byte) (done bool, err error) {
	if !s.m.maybe(raw) {
		return false, nil
	}
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return false, fmt.Errorf("msglog: damaged entry %s: %w", key, err)
	}
	if !s.m.match(&e) {
		return false, nil
	}
	return s.emit(key, e), nil
}

// scan walks the entries below upper down to floor (nil: the oldest),
// newest first.
func (s *searcher) scan(upper, floor []byte) (done bool, err error) {
	// Entries are far below the value threshold, inline in the LSM
	// tree: prefetching would only start goroutines.
	it := s.txn.NewIterator(store.Prefix(prefixTime, true, true))
	defer it.Close()
	for it.Seek(upper); it.Valid(); it.Next() {
		item := it.Item()
		if bytes.Compare(item.Key(), upper) >= 0 {
			continue
		}
		if floor != nil && bytes.Compare(item.Key(), floor) < 0 {
			return false, nil
		}
		if err := s.tick(); err != nil {
			return false, err
		}
		if s.buf, err = item.ValueCopy(s.buf[:0]); err != nil {
			return false, err
		}
		if done, err := s.consider(item.KeyCopy(nil), s.buf); done || err != nil {
			return done, err
		}
	}
	return false, nil
}

// edge is the time stamp of the newest (reverse) or oldest entry.
func (s *searcher) edge(reverse bool) (int64, bool) {
	it := s.txn.NewIterator(store.Prefix(prefixTime, true, reverse))
	defer it.Close()
	if reverse {
		it.Seek([]byte(prefixTime + "~"))
	} else {
		it.Seek([]byte(prefixTime))
	}
	if !it.Valid() {
		return 0, false
	}
	ts, _, ok := splitKey(string(it.Item().Key()))
	return tsOf(ts), ok
}

// indexed answers the query day by day, newest first, from the index.
func (s *searcher) indexed(clauses [][]string, upper, floor []byte) (bool, error) {
	newest, ok := s.edge(true)
	if !ok {
		return false, nil
	}
	oldest, _ := s.edge(false)
	if ts, _, ok := splitKey(string(upper) + "/x"); ok {
		newest = min(newest, tsOf(ts))
	} else if ts, _, ok := splitKey(string(upper)); ok {
		newest = min(newest, tsOf(ts))
	}
	if floor != nil {
		if ts, _, ok := splitKey(string(floor) + "/x"); ok {
			oldest = max(oldest, tsOf(ts))
		}
	}
	if newest < oldest {
		return false, nil
	}
	idx := s.txn.NewIterator(store.Prefix(prefixIndex, true, false))
	defer idx.Close()
	ent := s.txn.NewIterator(store.Prefix(prefixTime, true, false))
	defer ent.Close()

	var cand, best []int64
	for d := int(day(newest)); d >= int(day(oldest)); d-- {
		if err := s.ctx.Err(); err != nil {
			return false, err
		}
		// The smallest clause of the day; nil: all are common.
		best = best[:0]
		found := false
		for _, alts := range clauses {
			limit := denseDay
			if found {
				limit = len(best)
			}
			cand = cand[:0]
			dense := false
			for _, t := range alts {
				p := dayPrefix(uint16(d), t)
				for idx.Seek(p); idx.ValidForPrefix(p); idx.Next() {
					if len(cand) >= limit {
						dense = true
						break
					}
					cand = append(cand, keyTime(idx.Item().Key()))
				}
				if dense {
					break
				}
			}
			if !dense {
				best, cand = cand, best
				found = true
				if len(best) == 0 {
					break
				}
			}
		}
		if !found {
			// Every term is common this day: its matches are dense, read
			// the day in time order.
			dayUpper := []byte(prefixTime + stamp(time.Unix(0, int64(d+1)*dayNanos)))
			dayFloor := []byte(prefixTime + stamp(time.Unix(0, int64(d)*dayNanos)))
			if bytes.Compare(upper, dayUpper) < 0 {
				dayUpper = upper
			}
			if floor != nil && bytes.Compare(floor, dayFloor) > 0 {
				dayFloor = floor
			}
			if done, err := s.scan(dayUpper, dayFloor); done || err != nil {
				return done, err
			}
			continue
		}
		slices.Sort(best)
		best = slices.Compact(best)
		for i := len(best) - 1; i >= 0; i-- {
			done, err := s.resolve(ent, best[i], upper, floor)
			if done || err != nil {
				return done, err
			}
		}
	}
	return false, nil
}

// resolve considers the entries recorded at ts (usually one), newest key
// first.
func (s *searcher) resolve(it *store.Iterator, ts int64, upper, floor []byte) (bool, error) {
	p := []byte(prefixTime + fmt.Sprintf("%019d", ts) + "/")
	type kv struct{ k, v []byte }
	var found []kv
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		item := it.Item()
		if bytes.Compare(item.Key(), upper) >= 0 || floor != nil && bytes.Compare(item.Key(), floor) < 0 {
			continue
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return false, err
		}
		found = append(found, kv{item.KeyCopy(nil), v})
	}
	for i := len(found) - 1; i >= 0; i-- {
		if err := s.tick(); err != nil {
			return false, err
		}
		if done, err := s.consider(found[i].k, found[i].v); done || err != nil {
			return done, err
		}
	}
	return false, nil
}

// Search returns the entries matching q, newest first, a page at a time.
// Pages are stable: entries recorded after the first page are newer and
// never show up on later pages, status changes do not move an entry.
//
// Filters, numbers and words are looked up in the index (see index.go):
// a word is found by its beginning, a number whole (international, 00 or
// national) or by its ending. A query without any of them (no filter,
// text without a letter or digit) reads the log in time order, and so does
// every query while Run still builds the index of a log from before it.
func (l *Log) Search(ctx context.Context, q Query) (Page, error) {
	switch {
	case q.Limit <= 0:
		q.Limit = DefaultLimit
	case q.Limit > MaxLimit:
		q.Limit = MaxLimit
	}
	upper := []byte(prefixTime + "~") // after every stamp
	if !q.Until.IsZero() {
		upper = []byte(prefixTime + stamp(q.Until)) // before the first entry at Until
	}
	if q.Cursor != "" {
		k, err := decodeCursor(q.Cursor)
		if err != nil {
			return Page{}, err
		}
		if bytes.Compare(k, upper) < 0 {
			upper = k
		}
	}
	var floor []byte // entries below it are older than Since
	if !q.Since.IsZero() {
		floor = []byte(prefixTime + stamp(q.Since))
	}
	s := &searcher{ctx: ctx, m: compile(q), limit: q.Limit}
	err := l.st.View(func(txn *store.Txn) error {
		s.txn = txn
		var err error
		if cs := s.m.clauses(); len(cs) > 0 && l.indexed.Load() {
			_, err = s.indexed(cs, upper, floor)
		} else {
			_, err = s.scan(upper, floor)
		}
		return err
	})
	if err != nil {
		return Page{}, err
	}
	return s.out, nil
}
