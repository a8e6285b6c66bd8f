package msglog

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// The search index. Every entry has index keys (empty values) for the
// terms a search looks for, grouped by the UTC day it was recorded on:
//
//	msglog/x/<day, 2 bytes><term>\x00<unix nanos, 8 bytes> → ""
//
// Terms are a type byte and a value:
//
//	D<direction> K<kind> C<channel> S<status>   filters (S changes with the status)
//	w<word>      words of the number, name and text, lower case, at most
//	             maxWordBytes bytes, the first maxWords distinct ones
//	n<digits>    the number's digits from positions 0 to 3 (international,
//	             without a country code of 1 to 3 digits: national)
//	r<digits>    the number's digits reversed (endings of a number)
//
// A word or number query is a prefix of a term, so within one day all
// matching keys are one range. A search walks the days newest first and,
// per day, reads the smallest of the ranges its terms select, then the
// entries those point at (verifying each against the whole query); a day
// where every term is common (more than denseDay keys) is read in time
// order instead, which finds the matches of a common term quickly. Words
// are found by their beginning: "rück" finds "Rückruf", "ruf" does not.
const (
	prefixIndex  = "msglog/x/"
	keyIndexVer  = "msglog/meta/index"
	indexVersion = "1"
	maxWordBytes = 12
	maxWords     = 32
	dayNanos     = int64(24 * 60 * 60 * 1e9)
	// denseDay: a term with more keys in one day is read in time order.
	denseDay = 2000
)

// term types
const (
	tDirection = 'D'
	tKind      = 'K'
	tChannel   = 'C'
	tStatus    = 'S'
	tWord      = 'w'
	tNumber    = 'n'
	tReversed  = 'r'
)

func day(ts int64) uint16 { return uint16(max(ts, 0) / dayNanos) }

// indexKey is the key of term for the entry recorded at ts (unix nanos).
func indexKey(ts int64, term string) []byte {
	k := make([]byte, 0, len(prefixIndex)+2+len(term)+1+8)
	k = append(k, prefixIndex...)
	k = binary.BigEndian.AppendUint16(k, day(ts))
	k = append(k, term...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(max(ts, 0)))
}

// dayPrefix is the start of the keys of term (or terms starting with it)
// on day d.
func dayPrefix(d uint16, termPrefix string) []byte {
	k := make([]byte, 0, len(prefixIndex)+2+len(termPrefix))
	k = append(k, prefixIndex...)
	k = binary.BigEndian.AppendUint16(k, d)
	return append(k, termPrefix...)
}

// keyTime is the unix nanos an index key points at.
func keyTime(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[len(k)-8:])) }

func filterTerm(t byte, v string) string { return string(t) + v + "\x00" }

// terms are the index terms of e (filter terms end in \x00: they are
// exact, the others are prefix-searched).
func terms(e *Entry) []string {
	out := []string{filterTerm(tDirection, string(e.Direction)), filterTerm(tKind, string(e.Kind)),
		filterTerm(tChannel, e.Channel), filterTerm(tStatus, string(e.Status))}
	if d := digitsOf(e.Peer); d != "" && !strings.ContainsRune(d, 'x') {
		for i := 0; i < min(4, len(d)); i++ {
			out = append(out, string(tNumber)+d[i:])
		}
		out = append(out, string(tReversed)+reverse(d))
	}
	seen := map[string]bool{}
	for _, f := range []string{e.Peer, e.Name, e.Text} {
		for _, w := range words(f) {
			if len(seen) == maxWords {
				break
			}
			if !seen[w] {
				seen[w] = true
				out = append(out, string(tWord)+w)
			}
		}
	}
	return out
}

// words splits s into lower-case words (runs of letters and digits), each
// cut to maxWordBytes at a rune boundary.
func words(s string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		r = lowerRune(r)
		if b.Len()+utf8.RuneLen(r) <= maxWordBytes {
			b.WriteRune(r)
		}
	}
	flush()
	return out
}

// digitsOf is the digits of a phone number as written ("+49 (170) 123-4"),
// with an x for anything that is no part of one (a WhatsApp user id, an
// alphanumeric sender).
func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case strings.ContainsRune("+ -/().", r):
			return -1
		}
		return 'x'
	}, s)
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// writeEntry writes e (Created already set, UTC) with its ID key and index
// keys through set: a transaction or a write batch.
func writeEntry(set func(k, v []byte) error, e *Entry) error {
	ts := stamp(e.Created)
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := set(entryKey(ts, e.ID), v); err != nil {
		return err
	}
	if err := set([]byte(prefixID+e.ID), []byte(ts)); err != nil {
		return err
	}
	return setIndex(set, e)
}

func setIndex(set func(k, v []byte) error, e *Entry) error {
	n := e.Created.UnixNano()
	for _, t := range terms(e) {
		if err := set(indexKey(n, t), nil); err != nil {
			return err
		}
	}
	return nil
}

// entryBytes is what recording e writes: keys and values of the entry,
// its ID key and its index keys (the write amplification of the index is
// the share of the latter).
func entryBytes(e *Entry) (entry, index int) {
	var total int
	count := func(k, v []byte) error { total += len(k) + len(v); return nil }
	_ = writeEntry(count, e)
	idx := 0
	_ = setIndex(func(k, v []byte) error { idx += len(k) + len(v); return nil }, e)
	return total - idx, idx
}

const keyIndexProgress = "msglog/meta/index-progress" // last entry key indexed

// buildIndex writes the index keys of every entry of a log from before
// the index, in small transactions that re-read each entry (a status
// change meanwhile conflicts and is retried), saving its progress so a
// restart continues where it stopped. Searches read the whole log until
// it is done.
func (l *Log) buildIndex(ctx context.Context) error {
	var after []byte
	err := l.st.View(func(txn *store.Txn) error {
		item, err := txn.Get([]byte(keyIndexProgress))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		after, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("msglog: %w", err)
	}
	start, done := time.Now(), 0
	l.log.Info("message log: building the search index for the existing entries (once; searches read the whole log until it is done)")
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var keys [][]byte
		err := l.st.View(func(txn *store.Txn) error {
			it := txn.NewIterator(store.Prefix(prefixTime, true, false))
			defer it.Close()
			it.Seek([]byte(prefixTime))
			if after != nil {
				it.Seek(after)
				if it.Valid() && bytes.Equal(it.Item().Key(), after) {
					it.Next()
				}
			}
			for ; it.Valid() && len(keys) < 200; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("msglog: building the search index: %w", err)
		}
		if len(keys) == 0 {
			break
		}
		err = l.st.Update(func(txn *store.Txn) error {
			for _, k := range keys {
				item, err := txn.Get(k)
				if errors.Is(err, store.ErrNotFound) {
					continue // pruned meanwhile
				}
				if err != nil {
					return err
				}
				var e Entry
				if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
					l.log.Warn("message log: damaged entry not indexed", "key", string(k), "err", err)
					continue
				}
				if err := setIndex(txn.Set, &e); err != nil {
					return err
				}
			}
			return txn.Set([]byte(keyIndexProgress), keys[len(keys)-1])
		})
		if err != nil {
			return fmt.Errorf("msglog: building the search index: %w", err)
		}
		after = keys[len(keys)-1]
		done += len(keys)
	}
	err = l.st.Update(func(txn *store.Txn) error {
		if err := txn.Delete([]byte(keyIndexProgress)); err != nil {
			return err
		}
		return txn.Set([]byte(keyIndexVer), []byte(indexVersion))
	})
	if err != nil {
		return fmt.Errorf("msglog: %w", err)
	}
	l.indexed.Store(true)
	l.log.Info("message log: search index built", "entries", done, "took", time.Since(start).Round(time.Second).String())
	return nil
}

// checkIndex tells whether the log is indexed; an empty log without the
// marker is (every entry recorded from now on has its index keys).
func (l *Log) checkIndex() error {
	return l.st.Update(func(txn *store.Txn) error {
		item, err := txn.Get([]byte(keyIndexVer))
		if err == nil {
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			l.indexed.Store(string(v) == indexVersion)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("msglog: %w", err)
		}
		if hasAny(txn, prefixTime) {
			return nil // Run builds it
		}
		l.indexed.Store(true)
		return txn.Set([]byte(keyIndexVer), []byte(indexVersion))
	})
}

func hasAny(txn *store.Txn, prefix string) bool {
	it := txn.NewIterator(store.Prefix(prefix, true, false))
	defer it.Close()
	it.Rewind()
	return it.Valid()
}

// tsOf parses an entry key's time stamp.
func tsOf(stamp string) int64 {
	n, _ := strconv.ParseInt(stamp, 10, 64)
	return n
}
