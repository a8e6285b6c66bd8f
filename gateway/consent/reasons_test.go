package consent

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BlockedReason says the same as Blocked, plus the code the portal
// translates (a blacklisted prefix with a note and an end, an opt-out).
func TestBlockedReasonMatchesBlocked(t *testing.T) {
	t.Parallel()
	c, clk, _ := newConsent(t)
	ctx := context.Background()
	until := clk.now().Add(2 * time.Hour)
	if _, err := c.Block(ctx, Entry{Prefix: "+49900", Direction: Both, Until: until, Reason: "Beschwerde"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Block(ctx, Entry{Number: "+4930222", Direction: Send}); err != nil {
		t.Fatal(err)
	}
	if err := c.OptOut(ctx, "+4930333", "STOP", "gsm"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		number string
		codes  []string // outermost first
		args   []string // of the outermost code
	}{
		{"+499001234", []string{"consent.until", "consent.note", "consent.blacklisted_prefix"}, []string{until.UTC().Format(time.RFC3339)}},
		{"+4930222", []string{"consent.blacklisted"}, nil},
		{"+4930333", []string{"consent.opted_out"}, []string{"STOP", clk.now().UTC().Format(time.DateOnly)}},
	} {
		want, blocked := c.Blocked(ctx, tc.number)
		text, r, rblocked := c.BlockedReason(ctx, tc.number)
		if !blocked || !rblocked || text != want {
			t.Errorf("%s: BlockedReason %q %v, Blocked %q %v", tc.number, text, rblocked, want, blocked)
		}
		var codes []string
		for p := &r; p != nil; p = p.Cause {
			codes = append(codes, p.Code)
		}
		if !slices.Equal(codes, tc.codes) || !slices.Equal(r.Args, tc.args) {
			t.Errorf("%s: reason %+v, want codes %q args %q", tc.number, r, tc.codes, tc.args)
		}
	}
	if _, r, blocked := c.BlockedReason(ctx, "+4930444"); blocked || !r.IsZero() {
		t.Errorf("free number: %v %+v", blocked, r)
	}
}
