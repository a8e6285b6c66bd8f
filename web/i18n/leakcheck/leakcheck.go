// Package leakcheck finds English sentences in text the portal shows in
// German: the browser tests that walk every form's error paths run it over
// the visible error messages. It has two independent detectors:
//
//   - the English catalog: a literal piece (between placeholders) of an
//     English catalog value of at least three words that occurs in no
//     German catalog value: the portal showing English text of its own;
//   - a dictionary-free heuristic for text from the layers below (Go
//     errors, library messages): English function words and error words
//     that are not German words ("the", "must", "cannot", "invalid", "not
//     found", …).
//
// The German catalogs themselves pass both detectors (a test checks it),
// so a finding is a leak, not German text that happens to look English.
package leakcheck

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/pbxgate/pbxgate/web/i18n"
)

// Finding is one English piece found in a text.
type Finding struct {
	// By is "catalog" (the piece and its catalog key) or "heuristic".
	By, Key, Piece string
}

func (f Finding) String() string {
	if f.Key != "" {
		return fmt.Sprintf("%s %q (English catalog %s)", f.By, f.Piece, f.Key)
	}
	return fmt.Sprintf("%s %q", f.By, f.Piece)
}

// Detector holds the English catalog's pieces.
type Detector struct {
	pieces []piece
}

type piece struct{ key, text string }

// placeholder matches {0} and {0|one|other}.
var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// New builds a detector from the embedded catalogs.
func New() (*Detector, error) {
	cat, err := i18n.Load()
	if err != nil {
		return nil, err
	}
	var german []string
	for _, k := range cat.Keys(i18n.DE) {
		german = append(german, strings.ToLower(cat.T(i18n.DE, k)))
	}
	d := &Detector{}
	seen := map[string]bool{}
	for _, k := range cat.Keys(i18n.EN) {
		for _, p := range placeholder.Split(cat.T(i18n.EN, k), -1) {
			p = strings.TrimFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
			lp := strings.ToLower(p)
			if len(strings.Fields(p)) < 3 || len(p) < 12 || seen[lp] {
				continue
			}
			if slices.ContainsFunc(german, func(g string) bool { return strings.Contains(g, lp) }) {
				continue // German text has it too (a product name, an example)
			}
			seen[lp] = true
			d.pieces = append(d.pieces, piece{key: k, text: lp})
		}
	}
	return d, nil
}

// Pieces is how many English catalog pieces the detector looks for.
func (d *Detector) Pieces() int { return len(d.pieces) }

// englishWords are words and phrases of English error messages that are
// not German words (the German catalogs contain none of them, a test
// checks that). Matched as whole words, case-insensitively.
var englishWords = regexp.MustCompile(`(?i)\b(the|must|cannot|can't|isn't|doesn't|don't|invalid|not found|no such|failed|failure|unable|should|please|is not|are not|does not|was not|already exists|too long|too large|too many|too short|out of range|expected|unexpected|required|missing|unknown|denied|allowed|malformed|empty|exceeds|greater than|less than|at least|at most|needs|which|would|could|because|only|enter|choose|their|your|this|that|with|from|has|have|been|of|is|are|be|and|or|to|for|on|by|it|its|not|no|error|first|reached|delete|after|before|when|there|than|into|you|we|can|parsing|closing|file|number|limit|send|mode|connection|already|found|wrong|name|use|letters|digits|characters|between|lower-case|upper-case|underscores|give|set|configured|without|more)\b`)

// strongWords alone make a finding; the others need a second word.
var strongWords = map[string]bool{"the": true, "must": true, "cannot": true, "can't": true, "isn't": true, "doesn't": true,
	"don't": true, "invalid": true, "not found": true, "no such": true, "failed": true, "unable": true, "should": true,
	"please": true, "is not": true, "are not": true, "does not": true, "was not": true, "already exists": true,
	"out of range": true, "malformed": true, "unexpected": true}

// Check returns the English pieces in text.
func (d *Detector) Check(text string) []Finding {
	var out []Finding
	lower := strings.ToLower(text)
	for _, p := range d.pieces {
		if strings.Contains(lower, p.text) {
			out = append(out, Finding{By: "catalog", Key: p.key, Piece: p.text})
		}
	}
	return append(out, Heuristic(text)...)
}

// Heuristic finds English by its function words, sentence by sentence (a
// line or a piece ending in . ! ? or ;): a strong word alone, or
// two different weaker ones.
func Heuristic(text string) []Finding {
	var out []Finding
	for _, s := range sentences(text) {
		words := map[string]bool{}
		strong := false
		for _, m := range englishWords.FindAllString(s, -1) {
			w := strings.ToLower(m)
			words[w] = true
			strong = strong || strongWords[w]
		}
		if strong || len(words) >= 2 {
			out = append(out, Finding{By: "heuristic", Piece: strings.TrimSpace(s)})
		}
	}
	return out
}

func sentences(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool {
		return r == '\n' || r == '.' || r == '!' || r == '?' || r == ';'
	})
}
