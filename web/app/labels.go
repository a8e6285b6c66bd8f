package app

import (
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/web/i18n"
)

// TierLabel is a WhatsApp messaging-limit tier (Meta's messaging_limit_tier
// enum: TIER_50 … TIER_100K, TIER_UNLIMITED, and TIER_2K as the daemon
// names 2,000) in the user's words, e.g. "bis 1.000 Kunden pro 24 Std.".
// Anything else shows as given.
func (v *View) TierLabel(tier string) string {
	if tier == "" {
		return "–"
	}
	if tier == "TIER_UNLIMITED" {
		return v.T("whatsapp.tier.unlimited")
	}
	n, ok := strings.CutPrefix(tier, "TIER_")
	if !ok {
		return tier
	}
	mult := 1
	if k, ok := strings.CutSuffix(n, "K"); ok {
		n, mult = k, 1000
	}
	num, err := strconv.Atoi(n)
	if err != nil || num <= 0 {
		return tier
	}
	return v.T("whatsapp.tier.limit", groupDigits(v.Language, num*mult))
}

// groupDigits writes n with the thousands separator of lang (1.000 / 1,000).
func groupDigits(lang i18n.Lang, n int) string {
	sep := ","
	if lang == i18n.DE {
		sep = "."
	}
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}
