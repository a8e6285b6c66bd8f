package campaign

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// testChannelCode stands for a channel's own reason code.
var testChannelCode = message.NewCode("test.channel", 0)

// A recipient's Send error keeps the channel's code: as it is, inside the
// "message rejected by the channel: …" an adapter adds, or inside the
// "channel X: …" the engine adds; an uncoded error has none (the English
// text is shown).
func TestFailReason(t *testing.T) {
	t.Parallel()
	coded := message.WithReason(errors.New("invalid SMS: no text"), testChannelCode.R())
	c := &Campaign{Spec: Spec{Channel: "gsm"}}
	for _, tc := range []struct {
		name   string
		err    error
		code   string
		cause  string
		nargs  int
		zeroOK bool
	}{
		{"coded", coded, "test.channel", "", 0, false},
		{"rejected by the adapter", fmt.Errorf("%w: %w", ErrRejected, coded), "campaign.rejected", "test.channel", 0, false},
		{"rejected, other text around", fmt.Errorf("%w: SIM 2: %w", ErrRejected, coded), "", "", 0, true},
		{"rejected, uncoded", fmt.Errorf("%w: barred", ErrRejected), "", "", 0, true},
		{"channel error", chanErr(c, coded), "campaign.channel_error", "test.channel", 1, false},
		{"channel error, uncoded", chanErr(c, errors.New("credit exhausted")), "campaign.channel_error_text", "", 2, false},
	} {
		r := failReason(tc.err)
		if tc.zeroOK {
			if !r.IsZero() {
				t.Errorf("%s: %+v, want none", tc.name, r)
			}
			continue
		}
		if r.Code != tc.code || len(r.Args) != tc.nargs || (tc.cause == "") != (r.Cause == nil) || (r.Cause != nil && r.Cause.Code != tc.cause) {
			t.Errorf("%s: %+v, want %s(%d args) around %q", tc.name, r, tc.code, tc.nargs, tc.cause)
		}
	}
}
