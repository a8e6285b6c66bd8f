package consent

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkBlocked is the check a campaign makes per recipient, with
// 10,000 blacklisted numbers, 100 prefixes and 10,000 opt-outs.
func BenchmarkBlocked(b *testing.B) {
	st := openStore(b, b.TempDir())
	defer st.Close()
	c, err := New(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 10000; i++ {
		if _, err := c.Block(ctx, Entry{Number: fmt.Sprintf("+49151%07d", i), Direction: Send}); err != nil {
			b.Fatal(err)
		}
		if err := c.OptOut(ctx, fmt.Sprintf("+49160%07d", i), "STOP", "sms"); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		if _, err := c.Block(ctx, Entry{Prefix: fmt.Sprintf("+4919%03d", i), Direction: Both}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		if _, blocked := c.Blocked(ctx, fmt.Sprintf("+49170%07d", i%100000)); blocked {
			b.Fatal("free number blocked")
		}
	}
}
