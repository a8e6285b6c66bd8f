package whatsapp

import "fmt"

// Texts pbxgate writes in place of WhatsApp content it cannot show, for
// agents and the message log, in German and English.
const (
	fbContact         = "contact"
	fbOrder           = "order"
	fbReactionRemoved = "reaction_removed"
	fbUnsupported     = "unsupported" // argument: Meta's reason
	fbUnreadable      = "unreadable"  // argument: message type
)

var fallbacks = map[string]map[string]string{
	"en": {
		fbContact:         "[shared contact]",
		fbOrder:           "[order]",
		fbReactionRemoved: "[reaction removed]",
		fbUnsupported:     "not supported by WhatsApp: %s",
		fbUnreadable:      "[%s message pbxgate cannot read; kept for the administrator]",
	},
	"de": {
		fbContact:         "[geteilter Kontakt]",
		fbOrder:           "[Bestellung]",
		fbReactionRemoved: "[Reaktion entfernt]",
		fbUnsupported:     "von WhatsApp nicht unterstützt: %s",
		fbUnreadable:      "[%s-Nachricht, die pbxgate nicht lesen kann; für den Administrator aufbewahrt]",
	},
}

// fallbackText is text key in lang (English when lang is not known).
func fallbackText(lang, key, arg string) string {
	texts, ok := fallbacks[lang]
	if !ok {
		texts = fallbacks["en"]
	}
	f := texts[key]
	if f == "" {
		f = fallbacks["en"][key]
	}
	if arg == "" && key == fbUnreadable {
		arg = "WhatsApp"
	}
	if arg != "" || key == fbUnsupported || key == fbUnreadable {
		return fmt.Sprintf(f, arg)
	}
	return f
}
