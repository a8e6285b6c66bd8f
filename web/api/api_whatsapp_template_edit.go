package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/web/app"
)

// APIEditWhatsAppTemplate answers PUT /api/v1/whatsapp/templates/{name}/{language}
// (admins): the body is Meta's edit of a template — "components" (as
// for creating one: HEADER, BODY, FOOTER, BUTTONS with their examples)
// and/or "category". Name and language cannot change. The answer is the
// template as now kept, status PENDING: Meta reviews it again, and
// campaigns with it do not start until it is approved. 422 with the
// field for a rule Meta would refuse (or Meta's own refusal, e.g. its
// edit limits), 404 for an unknown template, 502 when Meta is not reached.
func (s *API) APIEditWhatsAppTemplate(c *gin.Context) {
	a := s.waAccount()
	if a == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", app.ErrNoWhatsApp.Error(), "")
		return
	}
	name, lang := c.Param("name"), c.Param("language")
	var e whatsapp.TemplateEdit
	if !app.BindJSON(c, &e, `{"category":"…","components":[…]} as Meta's template edit`) {
		return
	}
	found := false
	for _, ti := range a.WhatsAppTemplates() {
		found = found || (ti.Name == name && ti.Language == lang)
	}
	if !found {
		app.APIError(c, http.StatusNotFound, "not_found", "no WhatsApp template "+name+" in language "+lang+" (sync the templates first)", "")
		return
	}
	ti, err := a.EditWhatsAppTemplate(c.Request.Context(), name, lang, e)
	var fe *whatsapp.TemplateFieldError
	var ae *whatsapp.APIError
	switch {
	case err == nil:
		c.JSON(http.StatusOK, gin.H{"template": ti})
	case errors.As(err, &fe):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid_template", fe.Path+": "+fe.Detail, fe.Field)
	case errors.As(err, &ae):
		msg := strings.Trim(strings.TrimSpace(ae.UserTitle+": "+ae.UserMsg), ": ")
		if msg == "" {
			msg = ae.Error()
		}
		app.APIError(c, http.StatusUnprocessableEntity, "meta_refused", "Meta refused the edit: "+msg, "")
	default:
		s.Log.Warn("api: WhatsApp template not edited", "template", name, "err", err)
		app.APIError(c, http.StatusBadGateway, "upstream", "the edit could not be submitted to Meta: "+err.Error(), "")
	}
}
