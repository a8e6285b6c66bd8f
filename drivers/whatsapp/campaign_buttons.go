package whatsapp

import (
	"strings"

	"github.com/pbxgate/pbxgate/gateway/campaign"
)

// templateButtons lists the template's buttons in order, for the
// campaign's validation.
func templateButtons(info TemplateInfo) []campaign.TemplateButton {
	var out []campaign.TemplateButton
	for _, c := range info.Components {
		if !strings.EqualFold(c.Type, "BUTTONS") {
			continue
		}
		for _, b := range c.Buttons {
			out = append(out, campaign.TemplateButton{Type: strings.ToUpper(b.Type),
				Dynamic: strings.EqualFold(b.Type, "URL") && countVars(b.URL) > 0, Text: b.Text})
		}
	}
	return out
}

// buttonComponents are the button components of a campaign's template
// send (Meta: one component per button, sub_type and index).
func buttonComponents(bs []campaign.ButtonValue) []TemplateComponent {
	var out []TemplateComponent
	for _, b := range bs {
		switch strings.ToLower(b.Type) {
		case campaign.ButtonURL:
			out = append(out, URLButton(b.Index, b.Value))
		case campaign.ButtonCopyCode:
			out = append(out, CopyCodeButton(b.Index, b.Value))
		case campaign.ButtonQuickReply:
			if b.Value != "" { // without one, Meta returns the button's text
				out = append(out, QuickReplyButton(b.Index, b.Value))
			}
		}
	}
	return out
}
