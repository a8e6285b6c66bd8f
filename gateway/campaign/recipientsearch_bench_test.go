package campaign

import "testing"

// searchBenchEnv is a completed campaign of 1,000 recipients, every tenth
// failed (the test channel's one reason).
func searchBenchEnv(b *testing.B) (*env, string) {
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
	return ev, c.ID
}

// BenchmarkSearchRecipientsNumber searches 1,000 recipients for a part of
// the number that 10 of them have (one page).
func BenchmarkSearchRecipientsNumber(b *testing.B) {
	ev, id := searchBenchEnv(b)
	const part = "112 00050" // +4915112000050 … +4915112000059; the space is ignored
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := ev.e.SearchRecipients(bg, id, RecipientSearch{Number: part, Limit: 100})
		if err != nil || p.Total != 10 || len(p.Items) != 10 {
			b.Fatalf("page %d/%d %v", len(p.Items), p.Total, err)
		}
	}
}

// BenchmarkFailureReasons groups the 100 failed of 1,000 recipients by
// reason (the test channel's uncoded reason names the number, so 100
// groups of one: the most groups these recipients can make).
func BenchmarkFailureReasons(b *testing.B) {
	ev, id := searchBenchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rs, err := ev.e.FailureReasons(bg, id)
		n := 0
		for _, r := range rs {
			n += r.Count
		}
		if err != nil || len(rs) != 100 || n != 100 {
			b.Fatalf("%d reasons of %d recipients, %v", len(rs), n, err)
		}
	}
}
