package rules

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A regular expression costs microseconds per message, a substring search
// tens of nanoseconds; with hundreds of regexp rules that is the
// difference between well under and well over a millisecond per message.
// So each regexp gets a prefilter: literals of which every match must
// contain at least one. A message without any of them cannot match and
// the regexp is not run.

// maxRequired bounds a clause's alternatives (beyond that, just run the
// regexp).
const maxRequired = 16

// prefilter is a conjunction of clauses; a clause is satisfied when the
// text contains one of its literals (case-canonical, see canon).
type prefilter [][]string

func (p prefilter) allows(canonText string) bool {
	for _, clause := range p {
		if !containsAny(canonText, clause) {
			return false
		}
	}
	return true
}

// required returns the prefilter of pattern; nil when no literal is
// certain.
func required(pattern string) prefilter {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	p := clauses(re.Simplify())
	// Most selective clause first: a message is usually turned away by it.
	slices.SortStableFunc(p, func(a, b []string) int { return shortest(b) - shortest(a) })
	return p
}

// clauses returns what every match of re contains: one literal of each
// clause.
func clauses(re *syntax.Regexp) prefilter {
	if set, ok := exact(re); ok {
		if set, ok := nonEmpty(set); ok {
			return prefilter{set}
		}
		return nil
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return clauses(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return clauses(re.Sub[0])
		}
	case syntax.OpConcat:
		// Runs of children with exact strings multiply out ("(preis|
		// kosten)123" needs PREIS123 or KOSTEN123); every run's and every
		// other child's clauses hold for the whole.
		var out prefilter
		run := []string{""}
		flush := func() {
			if set, ok := nonEmpty(run); ok {
				out = append(out, set)
			}
			run = []string{""}
		}
		for _, sub := range re.Sub {
			if set, ok := exact(sub); ok {
				if p, ok := product(run, set); ok {
					run = p
					continue
				}
				flush()
				if p, ok := product(run, set); ok {
					run = p
					continue
				}
			}
			flush()
			out = append(out, clauses(sub)...)
		}
		flush()
		return out
	case syntax.OpAlternate:
		// Each branch contributes its best clause; the text needs one of
		// them.
		var all []string
		for _, sub := range re.Sub {
			best := clauses(sub).best()
			if best == nil {
				return nil
			}
			all = append(all, best...)
		}
		if all = dedupe(all); len(all) > maxRequired {
			return nil
		}
		return prefilter{all}
	}
	return nil
}

// best is the most selective clause (longest shortest literal).
func (p prefilter) best() []string {
	var best []string
	n := 0
	for _, c := range p {
		if l := shortest(c); l > n {
			best, n = c, l
		}
	}
	return best
}

// matcher returns the regexp to run for pattern: the same language for a
// yes/no unanchored match, without a leading or trailing .* (the vendor
// manual's examples have them; they cost Go's matcher several times the
// work). nil when nothing is to strip.
func matcher(pattern string) *regexp.Regexp {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat || len(re.Sub) < 2 {
		return nil
	}
	dotStar := func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpStar && (r.Sub[0].Op == syntax.OpAnyCharNotNL || r.Sub[0].Op == syntax.OpAnyChar)
	}
	subs := re.Sub
	if dotStar(subs[0]) {
		subs = subs[1:]
	}
	if len(subs) > 1 && dotStar(subs[len(subs)-1]) {
		subs = subs[:len(subs)-1]
	}
	if len(subs) == len(re.Sub) {
		return nil
	}
	re.Sub = subs
	m, err := regexp.Compile(re.String())
	if err != nil {
		return nil
	}
	return m
}

// exact returns every string re can match, when they are few.
func exact(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{canon(string(re.Rune))}, true
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true // zero width: adds nothing to a match
	case syntax.OpCapture:
		return exact(re.Sub[0])
	case syntax.OpQuest:
		set, ok := exact(re.Sub[0])
		if !ok || len(set) >= maxRequired {
			return nil, false
		}
		return append(set, ""), true
	case syntax.OpCharClass:
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(set) >= 4 {
					return nil, false
				}
				set = append(set, canon(string(r)))
			}
		}
		return dedupe(set), len(set) > 0
	case syntax.OpConcat:
		run := []string{""}
		for _, sub := range re.Sub {
			set, ok := exact(sub)
			if !ok {
				return nil, false
			}
			if run, ok = product(run, set); !ok {
				return nil, false
			}
		}
		return run, true
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			set, ok := exact(sub)
			if !ok {
				return nil, false
			}
			all = append(all, set...)
		}
		all = dedupe(all)
		return all, len(all) <= maxRequired
	}
	return nil, false
}

func product(a, b []string) ([]string, bool) {
	if len(a)*len(b) > maxRequired {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return dedupe(out), true
}

// nonEmpty: a set with "" in it requires nothing.
func nonEmpty(set []string) ([]string, bool) {
	if len(set) == 0 || slices.Contains(set, "") {
		return nil, false
	}
	return set, true
}

func dedupe(set []string) []string {
	out := set[:0:0]
	for _, s := range set {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if l := utf8.RuneCountInString(s); n < 0 || l < n {
			n = l
		}
	}
	return n
}

// canon maps every rune to the smallest of its simple case folding orbit,
// exactly the equivalence (?i) uses; a text matching a literal, with or
// without (?i), contains it after canon on both sides.
func canon(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s) // 'A'..'Z' are the minima of ASCII letters' orbits
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(orbitMin(r))
	}
	return b.String()
}

func orbitMin(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}

func containsAny(text string, set []string) bool {
	for _, s := range set {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}
