package msglog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// benchLog holds 100,000 entries: a log of a few months on a busy gateway.
// Every 10,000th text carries "Rückruf", so a search for it matches 10.
func benchLog(b *testing.B) *Log {
	b.Helper()
	l, st, clk := newLog(b)
	const total, batch = 100_000, 1000
	for i := 0; i < total; i += batch {
		err := st.Update(func(txn *store.Txn) error {
			for j := i; j < i+batch; j++ {
				clk.add(time.Second)
				text := fmt.Sprintf("Ihre Bestellung %d ist versandbereit. Abholung Mo–Fr 9–17 Uhr.", j)
				if j%10_000 == 0 {
					text = fmt.Sprintf("Bitte um Rückruf wegen Auftrag %d", j)
				}
				e := Entry{ID: fmt.Sprintf("campaign-c%d-%d-1", j/5000, j), Direction: Out, Kind: message.SMS, Channel: "sms",
					Peer: fmt.Sprintf("+49170%07d", j), Local: "sim1", Text: text, Origin: OriginCampaign,
					OriginID: fmt.Sprintf("c%d", j/5000), Status: message.Delivered, Created: clk.Now()}
				if j%3 == 0 {
					e.Direction, e.Status, e.Origin, e.OriginID = In, Received, "", ""
				}
				if _, err := l.RecordTxn(txn, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// go test -run '^$' -bench . -benchmem ./gateway/msglog
func BenchmarkSearch100k(b *testing.B) {
	l := benchLog(b)
	ctx := context.Background()
	newest, err := l.Search(ctx, Query{Limit: 1})
	if err != nil || len(newest.Items) != 1 {
		b.Fatal(newest, err)
	}
	lastHour := newest.Items[0].Created.Add(-time.Hour)
	cases := []struct {
		name string
		q    Query
		want int
	}{
		{"first_page", Query{}, DefaultLimit},
		{"text_few_matches", Query{Text: "rückruf"}, 10},
		{"number", Query{Text: "0170 0042 000"}, 1},
		{"failed_none", Query{Status: message.Failed}, 0},
		// The portal's date fields: only the range is read.
		{"text_last_hour", Query{Text: "rückruf", Since: lastHour}, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				p, err := l.Search(ctx, c.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Items) != c.want {
					b.Fatalf("%d items, want %d", len(p.Items), c.want)
				}
			}
		})
	}
}
