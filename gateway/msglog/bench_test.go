package msglog

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

var benchEntries = flag.Int("msglog.entries", 1_000_000, "entries in the message log of BenchmarkSearch")

// benchStart is the time of the first benchmark entry; entries follow
// every 8.64 s, so 1,000,000 span 100 days (10,000 messages a day).
var benchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchEntry is entry j of the benchmark log: campaign messages to
// distinct numbers +49170<j, 7 digits>, every third one inbound, every
// 50,000th text asks for a "Rückruf" (20 in 1,000,000), every 1,000th
// went through channel sms2, every 500th is a WhatsApp message.
func benchEntry(j int) Entry {
	text := fmt.Sprintf("Ihre Bestellung %d ist versandbereit. Abholung Mo–Fr 9–17 Uhr.", j)
	if j%50_000 == 0 {
		text = fmt.Sprintf("Bitte um Rückruf wegen Auftrag %d", j)
	}
	created := benchStart.Add(time.Duration(j) * 8640 * time.Millisecond)
	e := Entry{ID: fmt.Sprintf("campaign-c%d-%d-1", j/5000, j), Direction: Out, Kind: message.SMS, Channel: "sms",
		Peer: fmt.Sprintf("+49170%07d", j), Local: "sim1", Text: text, Origin: OriginCampaign,
		OriginID: fmt.Sprintf("c%d", j/5000), Status: message.Delivered, Created: created, Updated: created}
	if j%3 == 0 {
		e.Direction, e.Status, e.Origin, e.OriginID = In, Received, "", ""
	}
	if j%1000 == 1 {
		e.Channel = "sms2"
	}
	if j%500 == 7 {
		e.Kind, e.Channel = message.WhatsApp, "whatsapp"
	}
	return e
}

// benchLog builds the log of n entries once per benchmark run in a temp
// directory: the keys and values RecordTxn writes (entries, ID keys, index
// keys, from writeEntry) loaded with store.Loader (Badger's StreamWriter), which writes
// sorted tables straight into the LSM tree (far faster than transactions
// on 2 cores; the result is the compacted tree a long-running store has),
// then opened with the Small profile the daemon uses.
func benchLog(b *testing.B, n int) *Log {
	b.Helper()
	dir := b.TempDir()
	st, err := store.Open(store.Options{Dir: dir, Profile: store.Default})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	ld, err := st.NewLoader()
	if err != nil {
		b.Fatal(err)
	}
	const (
		streamEntries = iota + 1
		streamIndex
		streamIDs
		streamMeta
	)
	put := func(stream uint32, k, v []byte) {
		if err := ld.Put(stream, k, v); err != nil {
			ld.Cancel()
			b.Fatal(err)
		}
	}
	type kv struct{ k, v []byte }
	var ids, index []kv
	var entryB, indexB int
	flushIndex := func() { // one day's index keys, sorted
		slices.SortFunc(index, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		for _, x := range index {
			put(streamIndex, x.k, x.v)
		}
		index = index[:0]
	}
	curDay := -1
	for j := range n {
		e := benchEntry(j)
		if d := int(day(e.Created.UnixNano())); d != curDay {
			flushIndex()
			curDay = d
		}
		if j%100 == 0 { // a sample is enough for the average
			eb, ib := entryBytes(&e)
			entryB, indexB = entryB+eb, indexB+ib
		}
		err := writeEntry(func(k, v []byte) error {
			k, v = slices.Clone(k), slices.Clone(v)
			switch {
			case bytes.HasPrefix(k, []byte(prefixTime)):
				put(streamEntries, k, v) // in time order already
			case bytes.HasPrefix(k, []byte(prefixID)):
				ids = append(ids, kv{k, v})
			default:
				index = append(index, kv{k, v})
			}
			return nil
		}, &e)
		if err != nil {
			b.Fatal(err)
		}
	}
	flushIndex()
	slices.SortFunc(ids, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	for _, x := range ids {
		put(streamIDs, x.k, x.v)
	}
	put(streamMeta, []byte(keyIndexVer), []byte(indexVersion))
	if err := ld.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	samples := (n + 99) / 100
	b.Logf("built %d entries in %s; written per message: %d bytes entry+ID, %d bytes index (keys and values)",
		n, time.Since(start).Round(time.Second), entryB/samples, indexB/samples)
	st, err = store.Open(store.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	l, err := New(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkSearch: searches of the message log at 1,000,000 entries
// (-msglog.entries), none with a date range. Each result count is checked.
//
//	go test -run '^$' -bench BenchmarkSearch -benchtime 20x ./gateway/msglog
func BenchmarkSearch(b *testing.B) {
	n := *benchEntries
	l := benchLog(b, n)
	ctx := context.Background()
	wantN := func(matches int) int { return min(matches, DefaultLimit) }
	last := n - 1
	cases := []struct {
		name string
		q    Query
		want int
	}{
		{"first_page", Query{}, wantN(n)},
		{"text_rare_word", Query{Text: "rückruf"}, wantN((n + 49_999) / 50_000)},
		{"text_rare_prefix", Query{Text: "Rückr"}, wantN((n + 49_999) / 50_000)},
		{"text_common_word", Query{Text: "bestellung"}, DefaultLimit},
		{"text_none", Query{Text: "stornierung"}, 0},
		{"number_international", Query{Text: fmt.Sprintf("+49170%07d", last/2)}, 1},
		{"number_national", Query{Text: fmt.Sprintf("0170 %03d %04d", (last/2)/10000, (last/2)%10000)}, 1},
		// Numbers ending in 42000 and texts with "Bestellung 42000…".
		{"number_ending", Query{Text: "42000"}, wantN(bruteForce(n, Query{Text: "42000"}))},
		{"filter_failed_none", Query{Status: message.Failed}, 0},
		{"filter_channel_rare", Query{Channel: "sms2"}, wantN((n + 998) / 1000)},
		{"filter_and_text", Query{Direction: In, Text: "rückruf"}, wantN(countRueckrufIn(n))},
		{"filter_whatsapp_page2", Query{Kind: message.WhatsApp, Limit: 100}, min(100, (n+492)/500)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// The first search of a query reads its index blocks from
			// disk into Badger's block cache: reported on its own.
			start := time.Now()
			if p, err := l.Search(ctx, c.q); err != nil || len(p.Items) != c.want {
				b.Fatalf("%d items (%v), want %d", len(p.Items), err, c.want)
			}
			first := time.Since(start)
			for b.Loop() {
				p, err := l.Search(ctx, c.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Items) != c.want {
					b.Fatalf("%d items, want %d", len(p.Items), c.want)
				}
			}
			b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
		})
	}
}

// bruteForce counts the benchmark entries q matches, one by one.
func bruteForce(n int, q Query) int {
	m := compile(q)
	c := 0
	for j := range n {
		e := benchEntry(j)
		if m.match(&e) {
			c++
		}
	}
	return c
}

func countRueckrufIn(n int) int {
	c := 0
	for j := 0; j < n; j += 50_000 {
		if j%3 == 0 {
			c++
		}
	}
	return c
}

// diskWrites is the bytes this process has made the kernel write to
// storage (write_bytes of /proc/self/io; Badger writes through mmap, so
// write(2) counts miss most of it).
func diskWrites(b *testing.B) int64 {
	b.Helper()
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io:", err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	b.Skip("no write_bytes in /proc/self/io")
	return 0
}

// BenchmarkRecordWrites: bytes written per recorded message (one
// transaction each, as the SMS pool and WhatsApp channel record them),
// with the index and the way the log wrote entries before it
// (entry and ID key only). The store is closed inside the measurement,
// so memtable flushes count; compactions of a long-running store add to
// both alike.
//
//	go test -run '^$' -bench BenchmarkRecordWrites -benchtime 20000x ./gateway/msglog
func BenchmarkRecordWrites(b *testing.B) {
	for _, withIndex := range []bool{true, false} {
		name := "with_index"
		if !withIndex {
			name = "without_index"
		}
		b.Run(name, func(b *testing.B) {
			st, err := store.Open(store.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			l, err := New(Config{Store: st})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			s0 := diskWrites(b)
			j := 0
			for b.Loop() {
				e := benchEntry(j)
				j++
				if withIndex {
					err = l.Record(ctx, e)
				} else {
					err = st.Update(func(txn *store.Txn) error {
						ts := stamp(e.Created)
						if err := store.SetJSON(txn, string(entryKey(ts, e.ID)), e); err != nil {
							return err
						}
						return txn.Set([]byte(prefixID+e.ID), []byte(ts))
					})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
			s1 := diskWrites(b)
			b.ReportMetric(float64(s1-s0)/float64(j), "disk-B/msg")
		})
	}
}

// BenchmarkReindex: Run builds the index of a log written before it
// (entries and ID keys only); time per 100,000 entries.
//
//	go test -run '^$' -bench BenchmarkReindex -benchtime 1x ./gateway/msglog
func BenchmarkReindex(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		b.StopTimer()
		st, err := store.Open(store.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		wb := st.DB().NewWriteBatch()
		for j := range n {
			e := benchEntry(j)
			raw, _ := json.Marshal(e)
			ts := stamp(e.Created)
			if err := wb.Set(entryKey(ts, e.ID), raw); err != nil {
				b.Fatal(err)
			}
			if err := wb.Set([]byte(prefixID+e.ID), []byte(ts)); err != nil {
				b.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			b.Fatal(err)
		}
		l, err := New(Config{Store: st})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := l.Run(context.Background(), 0); err != nil || !l.indexed.Load() {
			b.Fatal("not indexed", err)
		}
		b.StopTimer()
		if p, err := l.Search(context.Background(), Query{Text: "rückruf"}); err != nil || len(p.Items) != 2 {
			b.Fatalf("after reindex: %d, %v", len(p.Items), err)
		}
		st.Close()
		b.StartTimer()
	}
}
