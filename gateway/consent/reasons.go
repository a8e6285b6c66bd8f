package consent

import (
	"context"
	"fmt"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Reason codes of Blocked's texts, for the portal's translation
// ("reason.<code>"); the English texts are unchanged.
var (
	rOptedOut        = message.NewCode("consent.opted_out", 2) // keyword, date
	rBlacklisted     = message.NewCode("consent.blacklisted", 0)
	rBlacklistPrefix = message.NewCode("consent.blacklisted_prefix", 1) // prefix
	rWithNote        = message.NewWrapCode("consent.note", 1)           // the admin's note; the block
	rUntil           = message.NewWrapCode("consent.until", 1)          // end (RFC 3339); the block
)

// BlockedReason is Blocked with the reason's code (campaign.ReasonBlocker).
func (c *Consent) BlockedReason(_ context.Context, number string) (string, message.Reason, bool) {
	key := Canonical(number)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if o, ok := c.opted[key]; ok {
		day := o.At.UTC().Format(time.DateOnly)
		return fmt.Sprintf("opted out (%s) on %s", o.Keyword, day), rOptedOut.R(o.Keyword, day), true
	}
	if e, ok := c.matchLocked(key, Send); ok {
		return e.describe(), e.reasonCode(), true
	}
	return "", message.Reason{}, false
}

// reasonCode is describe's code.
func (e Entry) reasonCode() message.Reason {
	r := rBlacklisted.R()
	if e.Prefix != "" {
		r = rBlacklistPrefix.R(e.Prefix)
	}
	if e.Reason != "" {
		r = rWithNote.Wrap(r, e.Reason)
	}
	if !e.Until.IsZero() {
		r = rUntil.Wrap(r, e.Until.UTC().Format(time.RFC3339))
	}
	return r
}
