package screens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/web/app"
)

// Editing a WhatsApp template: the templates page's form, pre-filled
// with the template as Meta has it; name, language and the variables'
// format stay (Meta does not let them change). Meta reviews the edited
// template again, so it is PENDING afterwards and campaigns with it do
// not start until Meta approved it.

// waTemplateEdit is the template the form edits.
type waTemplateEdit struct {
	Name, Language, Status, Category string
	// Named: the template's variables are named ({{first_name}}).
	Named bool
	// KeptHeader is the header format the form cannot edit (IMAGE,
	// VIDEO, DOCUMENT, LOCATION): the header is sent back as it is.
	KeptHeader string
}

// Editable reports whether Meta lets a template of this status be
// edited (the list's Edit action).
func (d *waTemplatesData) Editable(status string) bool { return whatsapp.Editable(status) }

// editTarget finds the template of the request's path, or answers 404.
func (s *Screens) editTarget(c *gin.Context) (app.WhatsAppAccount, whatsapp.TemplateInfo, bool) {
	a := s.waAccount()
	if a == nil {
		s.RenderError(c, http.StatusNotFound, "whatsapp.not_configured")
		return nil, whatsapp.TemplateInfo{}, false
	}
	name, lang := c.Param("name"), c.Param("lang")
	for _, ti := range a.WhatsAppTemplates() {
		if ti.Name == name && ti.Language == lang {
			return a, ti, true
		}
	}
	s.RenderError(c, http.StatusNotFound, "whatsapp.tpl.not_found")
	return nil, whatsapp.TemplateInfo{}, false
}

func editOf(ti whatsapp.TemplateInfo) *waTemplateEdit {
	e := &waTemplateEdit{Name: ti.Name, Language: ti.Language, Status: ti.Status, Category: ti.Category, Named: ti.Vars.Named}
	for _, c := range ti.Components {
		if strings.EqualFold(c.Type, "HEADER") && !strings.EqualFold(c.Format, "TEXT") {
			e.KeptHeader = strings.ToUpper(c.Format)
		}
	}
	return e
}

// formButtonRows is how many button rows the form needs for nt.
func formButtonRows(nt whatsapp.NewTemplate) int {
	for _, c := range nt.Components {
		if c.Type == "BUTTONS" {
			return max(maxFormButtons, len(c.Buttons))
		}
	}
	return maxFormButtons
}

// formOfTemplate fills the form's fields from a template (the inverse of
// templateFromForm).
func formOfTemplate(form map[string]string, nt whatsapp.NewTemplate) {
	form["name"], form["language"], form["category"] = nt.Name, nt.Language, nt.Category
	form["parameter_format"] = nt.ParameterFormat
	for _, c := range nt.Components {
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			if strings.EqualFold(c.Format, "TEXT") {
				form["header"] = c.Text
				if c.Example != nil && len(c.Example.HeaderText) > 0 {
					form["header_example"] = c.Example.HeaderText[0]
				}
			}
		case "BODY":
			form["body"] = c.Text
			if c.Example != nil && len(c.Example.BodyText) > 0 {
				form["body_examples"] = strings.Join(c.Example.BodyText[0], "\n")
			}
		case "FOOTER":
			form["footer"] = c.Text
		case "BUTTONS":
			for i, b := range c.Buttons {
				k := func(n string) string { return fmt.Sprintf("button_%s_%d", n, i) }
				form[k("type")], form[k("text")] = b.Type, b.Text
				switch b.Type {
				case "URL":
					form[k("value")] = b.URL
				case "PHONE_NUMBER":
					form[k("value")] = b.PhoneNumber
				}
				if len(b.Example) > 0 {
					form[k("example")] = b.Example[0]
				}
			}
		}
	}
}

// WhatsAppTemplateEditPage shows the edit form of a template, pre-filled.
func (s *Screens) WhatsAppTemplateEditPage(c *gin.Context) {
	_, ti, ok := s.editTarget(c)
	if !ok {
		return
	}
	v := s.NewView(c, "whatsapp", "whatsapp.templates.title", nil)
	nt := whatsapp.NewTemplateOf(ti)
	formOfTemplate(v.Form, nt)
	metaErr := ""
	if !whatsapp.Editable(ti.Status) {
		metaErr = v.T("whatsapp.tpl.rule.edit_status")
	}
	s.renderTemplatesEdit(c, http.StatusOK, v, metaErr, editOf(ti), formButtonRows(nt))
}

// WhatsAppTemplateEdit submits the edit form: the driver checks Meta's
// rules first (shown at the field, as for a new template), then Meta (or
// the emulator) takes the edit or refuses it with its explanation.
func (s *Screens) WhatsAppTemplateEdit(c *gin.Context) {
	a, ti, ok := s.editTarget(c)
	if !ok {
		return
	}
	cur := whatsapp.NewTemplateOf(ti)
	rows := formButtonRows(cur)
	v := s.NewView(c, "whatsapp", "whatsapp.templates.title", nil)
	for _, f := range templateFormFields {
		v.Form[f] = strings.TrimSpace(c.PostForm(f))
	}
	for i := range rows {
		for _, f := range []string{"type", "text", "value", "example"} {
			k := fmt.Sprintf("button_%s_%d", f, i)
			v.Form[k] = strings.TrimSpace(c.PostForm(k))
		}
	}
	// Name, language and the variables' format cannot change.
	v.Form["name"], v.Form["language"], v.Form["parameter_format"] = ti.Name, ti.Language, cur.ParameterFormat
	nt, buttonRow := templateFromForm(v.Form, rows)
	edit := whatsapp.TemplateEdit{Category: v.Form["category"], Components: nt.Components}
	// A media or location header the form does not show stays as it is.
	for _, k := range cur.Components {
		if k.Type == "HEADER" && !strings.EqualFold(k.Format, "TEXT") {
			edit.Components = append([]whatsapp.NewTemplateComponent{k}, edit.Components...)
		}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 30*time.Second)
	defer cancel()
	_, err := a.EditWhatsAppTemplate(ctx, ti.Name, ti.Language, edit)
	var fe *whatsapp.TemplateFieldError
	var ae *whatsapp.APIError
	render := func(code int, metaErr string) {
		s.renderTemplatesEdit(c, code, v, metaErr, editOf(ti), rows)
	}
	switch {
	case err == nil:
		s.Audit(c, "whatsapp.template.edit", ti.Name+" ("+ti.Language+")")
		s.Flash(c, "whatsapp.tpl.edited")
		c.Redirect(http.StatusSeeOther, "/whatsapp/templates")
	case errors.As(err, &fe) && fe.Field == "status":
		render(http.StatusUnprocessableEntity, v.T("whatsapp.tpl.rule."+fe.Rule)+" ("+fe.Detail+")")
	case errors.As(err, &fe):
		// A kept media header comes first in the request but has no
		// buttons: button indexes are still the form's.
		templateFieldError(v, fe, buttonRow)
		render(http.StatusUnprocessableEntity, "")
	case errors.As(err, &ae):
		msg := strings.Trim(strings.TrimSpace(ae.UserTitle+": "+ae.UserMsg), ": ")
		if msg == "" {
			msg = ae.Error()
		}
		render(http.StatusUnprocessableEntity, v.T("whatsapp.tpl.edit_refused", msg))
	default:
		s.Log.Warn("WhatsApp template not edited", "template", ti.Name, "err", err)
		render(http.StatusBadGateway, v.T("whatsapp.tpl.edit_failed", err.Error()))
	}
}
