package app

import (
	"strings"

	"github.com/pbxgate/pbxgate/gateway/campaign"
)

// TemplateSearchText is what the campaign form's template search looks in:
// name, language, category and the texts (header, body, footer), lower
// case. The script filters on the same text (the option's data-search),
// so the page filters alike with and without JavaScript.
func TemplateSearchText(t campaign.TemplateInfo) string {
	return strings.ToLower(strings.Join([]string{t.Name, t.Language, t.Category, t.HeaderText, t.Body, t.Footer}, " "))
}

// MatchTemplate reports whether t matches the search query q: every word
// of q (case-insensitive) occurs in t's search text. An empty query
// matches every template.
func MatchTemplate(t campaign.TemplateInfo, q string) bool {
	words := strings.Fields(strings.ToLower(q))
	if len(words) == 0 {
		return true
	}
	text := TemplateSearchText(t)
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// FilterTemplates returns the templates of list matching q in their order;
// the template keyed keep (the form's current choice) always stays, so a
// search never drops what the user has chosen.
func FilterTemplates(list []campaign.TemplateInfo, q, keep string) []campaign.TemplateInfo {
	if strings.TrimSpace(q) == "" {
		return list
	}
	var out []campaign.TemplateInfo
	for _, t := range list {
		if MatchTemplate(t, q) || (keep != "" && TemplateKey(t) == keep) {
			out = append(out, t)
		}
	}
	return out
}
