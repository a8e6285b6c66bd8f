package msglog

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// allPages collects every page of q.
func allPages(t *testing.T, l *Log, q Query) []string {
	t.Helper()
	var got []string
	for range 10_000 {
		p, err := l.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p)...)
		if p.Next == "" {
			return got
		}
		q.Cursor = p.Next
	}
	t.Fatal("endless pages")
	return nil
}

// The indexed search returns what reading the whole log and matching every
// entry returns, page by page, for filters, words, word beginnings and
// numbers, on days where the terms are rare (read from the index) and on a
// day where they are common (read in time order).
func TestIndexedSearchEqualsFullScan(t *testing.T) {
	t.Parallel()
	l, st, clk := newLog(t)
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := []string{"Anna", "Bernd", "Rückruf", "Termin", "Paket", "Abholung", "Zahlung", "Öffnungszeiten"}
	statuses := []message.Status{message.Queued, message.Sent, message.Delivered, message.Failed}
	var all []Entry
	var addSome func(n int, step time.Duration, common bool)
	add := func(n int, step time.Duration, common bool) {
		for k := 0; k < n; k += 200 {
			addSome(min(200, n-k), step, common)
		}
	}
	addSome = func(n int, step time.Duration, common bool) {
		err := st.Update(func(txn *store.Txn) error {
			for range n {
				clk.add(step)
				i := len(all)
				w1, w2 := vocab[rng.IntN(len(vocab))], vocab[rng.IntN(len(vocab))]
				if common {
					w1 = "Hallo"
				}
				e := Entry{ID: fmt.Sprintf("e%05d", i), Direction: Out, Kind: message.SMS, Channel: "sms",
					Peer: fmt.Sprintf("+49170%07d", rng.IntN(300)), Text: w1 + " " + w2, Status: statuses[rng.IntN(len(statuses))],
					Created: clk.Now()}
				if i%7 == 0 {
					e.Direction, e.Kind, e.Channel, e.Status, e.Name = In, message.WhatsApp, "whatsapp", Received, "Erika Müller"
				}
				if i%97 == 0 {
					e.Channel = "sms2"
				}
				if _, err := l.RecordTxn(txn, e); err != nil {
					return err
				}
				all = append(all, e)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(600, 7*time.Minute, false)  // several days, sparse
	add(2600, time.Second, true)    // one busy day: "hallo" and sms are common
	add(400, 11*time.Minute, false) // sparse again
	// Status changes move entries between status terms.
	for i := 0; i < len(all); i += 5 {
		if all[i].Direction == Out {
			if err := l.Status(context.Background(), message.StatusEvent{ID: all[i].ID, Status: message.Failed}); err == nil && Advances(all[i].Status, message.Failed) {
				all[i].Status = message.Failed
			}
		}
	}
	queries := []Query{
		{Text: "rückruf"}, {Text: "RÜCK"}, {Text: "hallo"}, {Text: "hallo anna"}, {Text: "Erika"},
		{Text: "+491700000042"}, {Text: "0170 0000042"}, {Text: "00491700000042"},
		{Status: message.Failed}, {Channel: "sms2"}, {Kind: message.WhatsApp}, {Direction: In, Text: "termin"},
		{Status: message.Failed, Text: "hallo"}, {Channel: "sms2", Text: "paket"}, {Text: "öffnungs"},
	}
	for _, q := range queries {
		m := compile(q)
		var want []string
		for i := len(all) - 1; i >= 0; i-- {
			if m.match(&all[i]) {
				want = append(want, all[i].ID)
			}
		}
		small := 7 // many pages, and page ends inside days
		if len(want) > 300 {
			small = 97
		}
		for _, limit := range []int{small, 500} {
			q.Limit = limit
			if got := allPages(t, l, q); !slices.Equal(got, want) {
				t.Errorf("%+v: %d results, want %d (%v… vs %v…)", q, len(got), len(want), head(got), head(want))
			}
		}
	}
	// The ending of a number finds it; every result matches.
	got := allPages(t, l, Query{Text: "0042", Limit: 50})
	if len(got) == 0 {
		t.Fatal("no result for the ending of a number")
	}
	for _, id := range got {
		e, _ := l.Get(context.Background(), id)
		if !strings.HasSuffix(e.Peer, "0042") && !strings.Contains(e.Peer, "0042") {
			t.Fatalf("%s (%s) does not match 0042", id, e.Peer)
		}
	}
	// Time ranges together with the index.
	since, until := all[1000].Created, all[3000].Created
	m := compile(Query{Text: "hallo"})
	var want []string
	for i := 2999; i >= 1000; i-- {
		if m.match(&all[i]) {
			want = append(want, all[i].ID)
		}
	}
	if got := allPages(t, l, Query{Text: "hallo", Since: since, Until: until, Limit: 100}); !slices.Equal(got, want) {
		t.Errorf("range: %d results, want %d", len(got), len(want))
	}
}

func head(s []string) []string { return s[:min(3, len(s))] }

// indexKeys counts the index keys.
func indexKeys(t *testing.T, st *store.Store) int {
	t.Helper()
	n := 0
	_ = st.View(func(txn *store.Txn) error { n = store.Count(txn, prefixIndex); return nil })
	return n
}

// A store from before the index (entries without index keys) is indexed
// by Run, resuming where a restart stopped it; pruning deletes index keys with their entries, and
// a status change moves the entry's status term.
func TestIndexMigrationPruneAndStatus(t *testing.T) {
	t.Parallel()
	st := testkit.Store(t)
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var entries []Entry
	// Written the way the log did before the index existed.
	err := st.Update(func(txn *store.Txn) error {
		for i := range 500 {
			e := Entry{ID: fmt.Sprintf("old%d", i), Direction: Out, Kind: message.SMS, Channel: "sms", Peer: fmt.Sprintf("+4917012%05d", i),
				Text: fmt.Sprintf("Alte Nachricht %d", i), Status: message.Sent, Created: base.Add(time.Duration(i) * time.Hour)}
			e.Updated = e.Created
			ts := stamp(e.Created)
			if err := store.SetJSON(txn, string(entryKey(ts, e.ID)), e); err != nil {
				return err
			}
			if err := txn.Set([]byte(prefixID+e.ID), []byte(ts)); err != nil {
				return err
			}
			entries = append(entries, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := indexKeys(t, st); n != 0 {
		t.Fatalf("%d index keys before migration", n)
	}
	now := base.Add(600 * time.Hour)
	l, err := New(Config{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Until Run has built the index, searches read the whole log: correct,
	// only slower.
	if l.indexed.Load() {
		t.Fatal("a log without index keys taken as indexed")
	}
	if p, err := l.Search(ctx, Query{Text: "0170 1200042"}); err != nil || !slices.Equal(ids(p), []string{"old42"}) {
		t.Fatalf("number before the index: %v %v", ids(p), err)
	}
	// A restart in the middle: the first 200 are done, the rest follow.
	if err := st.Update(func(txn *store.Txn) error {
		for i := range 200 {
			if err := setIndex(txn.Set, &entries[i]); err != nil {
				return err
			}
		}
		return txn.Set([]byte(keyIndexProgress), entryKey(stamp(entries[199].Created), entries[199].ID))
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if !l.indexed.Load() {
		t.Fatal("not indexed after Run")
	}
	want := 0
	for i := range entries {
		want += len(terms(&entries[i]))
	}
	if n := indexKeys(t, st); n != want {
		t.Fatalf("%d index keys after migration, want %d", n, want)
	}
	if p, err := l.Search(ctx, Query{Text: "0170 1200042"}); err != nil || !slices.Equal(ids(p), []string{"old42"}) {
		t.Fatalf("number after migration: %v %v", ids(p), err)
	}
	if p, _ := l.Search(ctx, Query{Text: "alte", Limit: 500}); len(p.Items) != 500 {
		t.Fatalf("word after migration: %d", len(p.Items))
	}
	// Opening again: indexed.
	if l2, err := New(Config{Store: st}); err != nil || !l2.indexed.Load() {
		t.Fatalf("second open: %v", err)
	}

	// Status: the status term moves.
	if err := l.Status(ctx, message.StatusEvent{ID: "old7", Status: message.Failed}); err != nil {
		t.Fatal(err)
	}
	if p, _ := l.Search(ctx, Query{Status: message.Failed}); !slices.Equal(ids(p), []string{"old7"}) {
		t.Fatalf("failed: %v", ids(p))
	}
	if p, _ := l.Search(ctx, Query{Status: message.Sent, Text: "0170 1200007"}); len(p.Items) != 0 {
		t.Fatalf("old status still indexed: %v", ids(p))
	}
	if n := indexKeys(t, st); n != want {
		t.Fatalf("%d index keys after a status change, want %d", n, want)
	}

	// Prune the first 300: their index keys go with them.
	n, err := l.Prune(ctx, base.Add(300*time.Hour))
	if err != nil || n != 300 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	want = 0
	for i := 300; i < len(entries); i++ {
		want += len(terms(&entries[i]))
	}
	if n := indexKeys(t, st); n != want {
		t.Fatalf("%d index keys after pruning, want %d", n, want)
	}
	if p, _ := l.Search(ctx, Query{Text: "alte", Limit: 500}); len(p.Items) != 200 {
		t.Fatalf("after pruning: %d", len(p.Items))
	}
}

// The bytes recording one message writes, with and without its index keys
// (reported in docs/benchmarks.md "Message log").
func TestEntryBytes(t *testing.T) {
	e := benchEntry(42)
	entry, index := entryBytes(&e)
	raw, _ := json.Marshal(e)
	if entry < len(raw) || index == 0 {
		t.Fatalf("entry %d (JSON %d), index %d", entry, len(raw), index)
	}
	t.Logf("one message: entry and ID key %d bytes, index keys %d bytes (%d keys)", entry, index, len(terms(&e)))
}

// A number is indexed whole, without country codes of one to three
// digits, and reversed, however it is written; a WhatsApp user id or an
// alphanumeric sender is indexed by its words only.
func TestTermsOfNumbers(t *testing.T) {
	t.Parallel()
	got := terms(&Entry{Direction: In, Kind: message.SMS, Channel: "sms", Status: Received, Peer: "+49 (170) 123-4567", Text: "Hallo Welt"})
	for _, want := range []string{"n491701234567", "n91701234567", "n1701234567", "n701234567", "r765432107194", "whallo", "wwelt", "w49", "w170"} {
		if !slices.Contains(got, want) {
			t.Errorf("terms %q lack %q", got, want)
		}
	}
	for _, peer := range []string{"US.13491208655302741918", "Info"} {
		for _, term := range terms(&Entry{Peer: peer}) {
			if term[0] == tNumber || term[0] == tReversed {
				t.Errorf("%s: number term %q", peer, term)
			}
		}
	}
	long := strings.Repeat("wort ", 10) + strings.Repeat("x", 40)
	for _, term := range terms(&Entry{Text: long}) {
		if len(term) > 1+maxWordBytes && term[0] == tWord {
			t.Errorf("word term %q longer than %d bytes", term, maxWordBytes)
		}
	}
}
