package campaign

import (
	"testing"
)

// BenchmarkRecipientsFailedFilter measures the campaign page's "failed"
// filter (Recipients with a Status) on a completed campaign of 1,000
// recipients of which 100 failed: one page of 100 from the store.
func BenchmarkRecipientsFailedFilter(b *testing.B) {
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(1000)
	for i := 0; i < len(rs); i += 10 {
		ch.reject[rs[i].Number] = true
	}
	ev := newEnv(b, "", Config{}, ch)
	c, err := ev.e.Create(bg, smsSpec("Bench", "sms-1", "now"), rs)
	if err != nil {
		b.Fatal(err)
	}
	c = ev.waitState(c.ID, Completed)
	if c.Counts.Failed != 100 {
		b.Fatalf("counts %+v", c.Counts)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := ev.e.Recipients(bg, c.ID, RecipientQuery{Status: RFailed, Limit: 100})
		if err != nil || p.Total != 100 || len(p.Items) != 100 {
			b.Fatalf("page %d/%d %v", len(p.Items), p.Total, err)
		}
	}
}
