package pbx

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitBody(t *testing.T) {
	if got := splitBody("kurz", 1000); len(got) != 1 || got[0] != "kurz" {
		t.Fatalf("short text: %q", got)
	}
	if got := splitBody(strings.Repeat("x", 5000), 0); len(got) != 1 {
		t.Fatalf("limit 0 must not split: %d parts", len(got))
	}
	for _, tc := range []struct {
		text  string
		limit int
	}{
		{strings.Repeat("€", 700), 1000},               // 3-byte runes, no spaces
		{strings.Repeat("Grüße aus Köln ", 200), 1000}, // spaces to break at
		{strings.Repeat("😀", 3000), 1000},              // 4-byte runes, 10+ parts
		{strings.Repeat("a", 1001), 1000},              // one byte too many
		{strings.Repeat("日本語 ", 400), 300},             // small limit
	} {
		parts := splitBody(tc.text, tc.limit)
		if len(parts) < 2 {
			t.Fatalf("%d bytes at limit %d: %d parts", len(tc.text), tc.limit, len(parts))
		}
		var whole strings.Builder
		for i, p := range parts {
			prefix := fmt.Sprintf("(%d/%d) ", i+1, len(parts))
			if !strings.HasPrefix(p, prefix) || len(p) > tc.limit || !utf8.ValidString(p) {
				t.Fatalf("part %d of %d: %d bytes (limit %d), prefix ok %v, valid %v", i+1, len(parts), len(p), tc.limit,
					strings.HasPrefix(p, prefix), utf8.ValidString(p))
			}
			whole.WriteString(strings.TrimPrefix(p, prefix))
		}
		if whole.String() != tc.text {
			t.Fatalf("parts do not rebuild the text (limit %d)", tc.limit)
		}
	}
}

func TestCustomerNumber(t *testing.T) {
	g := &Gateway{}
	for in, want := range map[string]string{"+491701234567": "+491701234567", "%2B491701234567": "+491701234567",
		"00491701234567": "+491701234567", "201": "", "hotline": "", "+49abc": ""} {
		got, ok := g.customer(in)
		if got != want || ok != (want != "") {
			t.Errorf("customer(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	g.cfg.CustomerPrefix = "9"
	if got, ok := g.customer("900491701234567"); !ok || got != "+491701234567" {
		t.Errorf("with prefix 9: %q %v", got, ok)
	}
	if _, ok := g.customer("+491701234567"); ok {
		t.Error("with prefix 9 a number without it must be refused")
	}
}
