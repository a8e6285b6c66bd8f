package whatsapp

import "strings"

// ComponentText is the text of the template's component of type typ
// (HEADER, BODY, FOOTER; any case), "" when it has none or it carries no
// text (a media header), for the portal's preview.
func (t TemplateInfo) ComponentText(typ string) string {
	for _, c := range t.Components {
		if strings.EqualFold(c.Type, typ) {
			return c.Text
		}
	}
	return ""
}
