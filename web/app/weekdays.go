package app

import (
	"strings"

	"github.com/pbxgate/pbxgate/web/i18n"
)

// The configuration names weekdays mon … sun (gateway/rules.Day,
// config.BusinessHours); the German form shows and takes Mo … So as well.
var (
	germanDay     = map[string]string{"mon": "Mo", "tue": "Di", "wed": "Mi", "thu": "Do", "fri": "Fr", "sat": "Sa", "sun": "So"}
	dayFromGerman = map[string]string{
		"mo": "mon", "di": "tue", "mi": "wed", "do": "thu", "fr": "fri", "sa": "sat", "so": "sun",
		"montag": "mon", "dienstag": "tue", "mittwoch": "wed", "donnerstag": "thu", "freitag": "fri", "samstag": "sat", "sonntag": "sun",
	}
)

// CanonicalDays maps what the form took (mon, Mo, Montag, any case) to the
// configuration's day names; anything else stays as typed for the
// configuration's validation to name.
func CanonicalDays(days []string) []string {
	out := make([]string, 0, len(days))
	for _, d := range days {
		l := strings.ToLower(strings.TrimSpace(d))
		if en, ok := dayFromGerman[l]; ok {
			l = en
		} else if _, ok := germanDay[l]; !ok {
			l = strings.TrimSpace(d)
		}
		out = append(out, l)
	}
	return out
}

// LocalDays writes the configuration's day names for the form in lang.
func LocalDays(lang i18n.Lang, days []string) string {
	if lang != i18n.DE {
		return strings.Join(days, ", ")
	}
	out := make([]string, len(days))
	for i, d := range days {
		out[i] = d
		if de, ok := germanDay[strings.ToLower(d)]; ok {
			out[i] = de
		}
	}
	return strings.Join(out, ", ")
}
