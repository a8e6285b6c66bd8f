// Package i18n is the portal's translation catalog: JSON files per
// language (<lang>.json for the screens, <lang>.<part>.json for parts such
// as the reasons produced below the portal), embedded in the binary, with
// the same keys in every language (a test enforces it).
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// Lang is a supported language code.
type Lang string

const (
	DE Lang = "de"
	EN Lang = "en"
)

// Default is the language when nothing else matches: the seeds and the
// target customers are German-speaking.
const Default = DE

// Supported returns every language the catalog has, in menu order.
func Supported() []Lang { return []Lang{DE, EN} }

//go:embed *.json
var files embed.FS

// Catalog holds the messages of every language.
type Catalog struct {
	msgs map[Lang]map[string]string
}

// Load reads the embedded catalogs.
func Load() (*Catalog, error) {
	c := &Catalog{msgs: map[Lang]map[string]string{}}
	for _, l := range Supported() {
		names, err := fs.Glob(files, string(l)+".*json")
		if err != nil {
			return nil, err
		}
		if !slices.Contains(names, string(l)+".json") {
			return nil, fmt.Errorf("i18n: %s.json is missing", l)
		}
		m := map[string]string{}
		for _, name := range names {
			b, err := files.ReadFile(name)
			if err != nil {
				return nil, err
			}
			part := map[string]string{}
			if err := json.Unmarshal(b, &part); err != nil {
				return nil, fmt.Errorf("i18n: %s: %w", name, err)
			}
			for k, v := range part {
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("i18n: %s: key %q is defined twice for %s", name, k, l)
				}
				m[k] = v
			}
		}
		c.msgs[l] = m
	}
	return c, nil
}

// T translates key into lang. Arguments replace {0}, {1}, … in order, and
// {n|one|other} becomes "one" when argument n is 1 and "other" otherwise
// (German and English need no more plural forms). A missing key shows as
// the key itself, so a gap is visible, not blank.
func (c *Catalog) T(lang Lang, key string, args ...any) string {
	m, ok := c.msgs[lang]
	if !ok {
		m = c.msgs[Default]
	}
	s, ok := m[key]
	if !ok {
		return key
	}
	if len(args) > 0 && strings.Contains(s, "|") {
		s = plurals(s, args)
	}
	for i, a := range args {
		s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", fmt.Sprint(a))
	}
	return s
}

// plurals replaces each {n|one|other} of s by the form for argument n; a
// form for an argument that is not given stays as written.
func plurals(s string, args []any) string {
	var b strings.Builder
	for {
		start := strings.Index(s, "{")
		if start < 0 {
			break
		}
		end := strings.Index(s[start:], "}")
		if end < 0 {
			break
		}
		end += start
		parts := strings.Split(s[start+1:end], "|")
		n, err := strconv.Atoi(parts[0])
		b.WriteString(s[:start])
		if len(parts) != 3 || err != nil || n < 0 || n >= len(args) {
			b.WriteString(s[start : end+1])
		} else if fmt.Sprint(args[n]) == "1" {
			b.WriteString(parts[1])
		} else {
			b.WriteString(parts[2])
		}
		s = s[end+1:]
	}
	b.WriteString(s)
	return b.String()
}

// Has reports whether lang has key.
func (c *Catalog) Has(lang Lang, key string) bool {
	_, ok := c.msgs[lang][key]
	return ok
}

// Keys returns the sorted keys of lang.
func (c *Catalog) Keys(lang Lang) []string {
	keys := make([]string, 0, len(c.msgs[lang]))
	for k := range c.msgs[lang] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Parse returns the supported language named by s ("de", "en-GB", …).
func Parse(s string) (Lang, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "-_"); i > 0 {
		s = s[:i]
	}
	for _, l := range Supported() {
		if string(l) == s {
			return l, true
		}
	}
	return "", false
}

// Negotiate picks the language: an explicit choice (cookie) wins, then the
// browser's Accept-Language in order of preference, then fallback.
func Negotiate(choice, acceptLanguage string, fallback Lang) Lang {
	if l, ok := Parse(choice); ok {
		return l
	}
	type cand struct {
		lang Lang
		q    float64
	}
	var cands []cand
	for part := range strings.SplitSeq(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if l, ok := Parse(tag); ok && q > 0 {
			cands = append(cands, cand{l, q})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	if len(cands) > 0 {
		return cands[0].lang
	}
	if _, ok := Parse(string(fallback)); ok {
		return fallback
	}
	return Default
}
