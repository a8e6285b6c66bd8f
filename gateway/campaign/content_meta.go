package campaign

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Send API text limits (Messenger Platform, Send API Reference):
// Messenger 2000 characters, Instagram 1000 bytes of UTF-8.
const (
	maxMessengerText = 2000
	maxInstagramText = 1000
)

// validateMetaText checks a Messenger or Instagram campaign: plain text
// within the platform's limit for every recipient.
func validateMetaText(spec *Spec, kind message.Kind, rs []Recipient) error {
	label := map[message.Kind]string{message.Messenger: "Facebook Messenger", message.Instagram: "Instagram"}[kind]
	if spec.Content.WhatsApp != nil {
		return fmt.Errorf("%w: channel %q is a %s channel; use text, not a WhatsApp template", ErrInvalid, spec.Channel, label)
	}
	if strings.TrimSpace(spec.Content.Text) == "" {
		return fmt.Errorf("%w: the message text is empty", ErrInvalid)
	}
	for _, r := range rs {
		if r.Status == RExcluded {
			continue
		}
		txt, err := render(spec.Content.Text, r.Number, r.Vars)
		if err != nil {
			return fmt.Errorf("%w: recipient %s: %v (add the column to the import or remove the placeholder)", ErrInvalid, who(r), err)
		}
		if kind == message.Instagram && len(txt) > maxInstagramText {
			return fmt.Errorf("%w: recipient %s: the message has %d bytes; Instagram takes at most %d", ErrInvalid, who(r), len(txt), maxInstagramText)
		}
		if n := utf8.RuneCountInString(txt); kind == message.Messenger && n > maxMessengerText {
			return fmt.Errorf("%w: recipient %s: the message has %d characters; Messenger takes at most %d", ErrInvalid, who(r), n, maxMessengerText)
		}
	}
	return nil
}
