package app

import (
	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// MakeClickToChat builds the sms: link (kind "sms") or wa.me link (any
// other kind) for number, normalised to E.164, and text. Problems are
// *inputProblem for number or text.
func (s *Server) MakeClickToChat(kind, number, text string) (link, e164 string, err error) {
	e164, err = recipients.Normalize(number, s.DefaultCountry())
	if err != nil {
		return "", "", Problem("number", "invalid", "clicktochat.err.number")
	}
	if kind == "sms" {
		link, err = clicktochat.SMS(e164, text)
	} else {
		link, err = clicktochat.WhatsApp(e164, text)
	}
	if err != nil {
		return "", "", Problem("text", "invalid", "clicktochat.err.link", err.Error())
	}
	return link, e164, nil
}
