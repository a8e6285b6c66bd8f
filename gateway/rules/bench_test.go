package rules

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// benchRules saves n rules (half contains, half regexp, some with windows
// and channel limits) of which only the last matches the benchmark text, so
// every message is compared with all of them.
func benchRules(b *testing.B, n int) *env {
	v := newEnv(b)
	for i := 0; i < n-1; i++ {
		r := Rule{Name: fmt.Sprintf("r%d", i), Order: i, Enabled: true, Keyword: Define, Actions: []Action{{Type: DoNothing}}}
		if i%2 == 0 {
			r.Match, r.Pattern = Contains, fmt.Sprintf("angebot%d", i)
		} else {
			r.Match, r.Pattern = Regexp, fmt.Sprintf(`(?i)\b(preis|kosten)%d\b`, i)
		}
		if i%5 == 0 {
			r.Window = &Window{Start: "08:00", End: "18:00"}
		}
		if i%7 == 0 {
			r.Channels = []string{"sms1", "wa"}
		}
		if _, err := v.e.Save(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	last := Rule{Name: "last", Order: n, Enabled: true, Keyword: Define, Match: Contains, Pattern: "rückruf", Actions: []Action{{Type: DoNothing}}}
	if _, err := v.e.Save(context.Background(), last); err != nil {
		b.Fatal(err)
	}
	return v
}

const benchText = "Guten Tag, ich hätte gerne einen Rückruf wegen meiner Bestellung vom Montag. Danke!"

// BenchmarkMatch1000Rules is the matching alone (what the dry run does).
func BenchmarkMatch1000Rules(b *testing.B) {
	v := benchRules(b, 1000)
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, berlin)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := v.e.Test(ctx, benchText, "sms1", message.SMS, at); len(r.Hits) != 1 {
			b.Fatalf("hits %+v", r.Hits)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "rules/s")
}

// BenchmarkHandle1000Rules is the whole inbound path: store the message,
// match 1,000 rules, run and log the action.
func BenchmarkHandle1000Rules(b *testing.B) {
	v := benchRules(b, 1000)
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, berlin)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		res, err := v.e.Handle(ctx, message.Inbound{ID: fmt.Sprintf("b%d", i), Kind: message.SMS, Channel: "sms1", From: anna, Text: benchText, At: at})
		if err != nil || len(res.Fired) != 1 {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// BenchmarkMatch1000RulesAllRegexpsRun is the worst case: 999 regexps
// whose literals the message all contains, so the prefilter lets every one
// of them through and all 999 run (and fail on the digits).
func BenchmarkMatch1000RulesAllRegexpsRun(b *testing.B) {
	v := newEnv(b)
	ctx := context.Background()
	for i := 0; i < 999; i++ {
		r := Rule{Name: fmt.Sprintf("r%d", i), Order: i, Enabled: true, Keyword: Define, Match: Regexp,
			Pattern: fmt.Sprintf(`(?i)\brückruf\b.*\bbestellung\b.*[0-9]{%d}`, 1+i%3), Actions: []Action{{Type: DoNothing}}}
		if _, err := v.e.Save(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := v.e.Save(ctx, Rule{Name: "last", Order: 1000, Enabled: true, Keyword: Rest, Actions: []Action{{Type: DoNothing}}}); err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, berlin)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := v.e.Test(ctx, benchText, "sms1", message.SMS, at); len(r.Hits) != 1 || r.Hits[0].Name != "last" {
			b.Fatalf("hits %+v", r.Hits)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "rules/s")
}
