package screens

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/web/app"
)

// buttonField is the form field of a template's button index.
func buttonField(key string, index int) string {
	return "button|" + key + "|" + strconv.Itoa(index)
}

// readButtonForm reads the values of the template's fillable buttons (URL
// suffix, quick-reply payload, copy code); a required one left empty is
// said at its field. The engine checks them again at save.
func readButtonForm(c *gin.Context, v *app.View, key string, buttons []campaign.TemplateButton) []campaign.ButtonValue {
	var out []campaign.ButtonValue
	for i, b := range buttons {
		kind := b.Fillable()
		if kind == "" {
			continue
		}
		field := buttonField(key, i)
		val := strings.TrimSpace(c.PostForm(field))
		v.Form[field] = val
		switch {
		case val == "" && b.Required():
			v.Errors[field] = v.T("campaign.err.button_required")
		case val != "":
			out = append(out, campaign.ButtonValue{Index: i, Type: kind, Value: val})
		}
	}
	return out
}
