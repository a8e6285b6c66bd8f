package rules

import (
	"regexp"
	"slices"
	"testing"
)

func TestRequiredLiterals(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern string
		want    prefilter
	}{
		{`^\s*((Stop(p)?)|(start))\s*$`, prefilter{{"STOPP", "STOP", "START"}}},
		{`.* ((Kündigung)|(gekündigt)).*`, prefilter{{" KÜNDIGUNG", " GEKÜNDIGT"}}},
		{`(?i)\bpreis\b`, prefilter{{"PREIS"}}},
		{`(?i)\b(preis|kosten)123\b`, prefilter{{"PREIS123", "KOSTEN123"}}},
		{`[sS]top`, prefilter{{"STOP"}}},
		{`(?i)\brückruf\b.*[0-9]+x7`, prefilter{{"RÜCKRUF"}, {"X7"}}},
		{`a*`, nil},
		{`x?yz|q`, prefilter{{"XYZ", "YZ", "Q"}}},
		{`(abc)+d`, prefilter{{"ABC"}, {"D"}}},
		{`[0-9]{4}`, nil},
		{`foo|.*`, nil},
	} {
		if got := required(c.pattern); !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s: %q, want %q", c.pattern, got, c.want)
		}
	}
}

var (
	equivPatterns = []string{`(?i)\b(preis|kosten)1\b`, `^\s*((Stop(p)?)|(start))\s*$`, `x?yz|q`, `[sS]top`,
		`(?i)stop`, `(?i)straße`, `(?i)kündigung|storno`, `(?i)ok`, `СТОП`, `(?i)стоп`, `(?i)\bkosten\b`, `Stop(p)?`,
		`.* ((Kündigung)|(gekündigt)).*`, `(?i).*termin.*`, `(?s).*a.*b.*`, `.*`, `.*x`, `x.*`, `(?m).*^foo$.*`,
		`(?i)\brückruf\b.*[0-9]+x7`, `(abc)+d`}
	equivTexts = []string{"STOP", "sTop", "ſtop", "STRASSE", "Straße", "STRAẞE", "KÜNDIGUNG", "kündigung", "Storno!", "OK", "oK",
		"ok", "stoP", "стоп", "СТОП", "Стоп", "die Kosten?", "KOSTEN", "Stopp", "stopp", "nothing", "Preis1", "KOSTEN1 bitte",
		" stop ", "start", "xyz", "yz", "q", "ich habe gekündigt", "Kündigung", "Termin?", "a\nb", "b a", "x\nfoo\ny", "",
		"Rückruf bitte 12x7", "rückruf x7", "abcabcd"}
)

// TestPrefilterNeverHidesAMatch: wherever the regexp matches, the prefilter
// lets it through (case variants across Unicode orbits included).
func TestPrefilterNeverHidesAMatch(t *testing.T) {
	t.Parallel()
	for _, p := range equivPatterns {
		re := regexp.MustCompile(p)
		req := required(p)
		for _, text := range equivTexts {
			if re.MatchString(text) && !req.allows(canon(text)) {
				t.Errorf("%s matches %q but the prefilter %q rejects it", p, text, req)
			}
		}
	}
}

// TestMatcherIsTheSameTest: the stripped regexp says yes exactly where the
// admin's does.
func TestMatcherIsTheSameTest(t *testing.T) {
	t.Parallel()
	stripped := 0
	for _, p := range equivPatterns {
		re := regexp.MustCompile(p)
		m := matcher(p)
		if m == nil {
			continue
		}
		stripped++
		for _, text := range equivTexts {
			if re.MatchString(text) != m.MatchString(text) {
				t.Errorf("%s (run as %s) on %q: %v vs %v", p, m, text, re.MatchString(text), m.MatchString(text))
			}
		}
	}
	if stripped < 6 {
		t.Errorf("only %d patterns stripped", stripped)
	}
}

// The worst-case benchmark relies on this: its regexps pass the prefilter
// for its text.
func TestWorstCaseBenchmarkRegexpsPassThePrefilter(t *testing.T) {
	t.Parallel()
	p := required(`(?i)\brückruf\b.*\bbestellung\b.*[0-9]{2}`)
	if !p.allows(canon(benchText)) || len(p) != 2 {
		t.Errorf("prefilter %q", p)
	}
}
