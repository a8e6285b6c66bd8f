package screens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/web/app"
)

// The WhatsApp account's screens: each number's standing at Meta (quality
// rating, messaging limit, throughput, name status) with the account
// signals Meta sent by webhook, and the message templates (list, create
// with Meta's rules checked at the field, delete with confirmation).

// waAccountData is the model of whatsapp_account.html.
type waAccountData struct {
	Configured bool
	Numbers    []app.WhatsAppNumber
	// Signals newest first.
	Signals []whatsapp.AccountEvent
}

// WhatsAppAccountPage shows the numbers and the account signals.
func (s *Screens) WhatsAppAccountPage(c *gin.Context) {
	d := &waAccountData{}
	if a := s.waAccount(); a != nil {
		d.Configured = true
		d.Numbers = a.WhatsAppNumbers()
		sig, err := a.WhatsAppSignals()
		if err != nil {
			s.Log.Error("WhatsApp account signals", "err", err)
		}
		slices.Reverse(sig)
		d.Signals = sig
	}
	s.Render(c, http.StatusOK, "whatsapp_account", s.NewView(c, "whatsapp", "whatsapp.account.title", d))
}

func (s *Screens) waAccount() app.WhatsAppAccount {
	if s.D.WhatsApp == nil {
		return nil
	}
	return s.D.WhatsApp.Account
}

// waTemplatesData is the model of whatsapp_templates.html.
type waTemplatesData struct {
	Configured bool
	Templates  []whatsapp.TemplateInfo
	// Buttons are the rows of the create form's buttons.
	Buttons []int
	// MetaError is Meta's refusal of a submitted template, in its words.
	MetaError string
	// Edit is the template the form edits (nil: the create form).
	Edit *waTemplateEdit
}

// maxFormButtons is how many button rows the create form offers.
const maxFormButtons = 3

// WhatsAppTemplatesPage lists the templates and offers the create form.
func (s *Screens) WhatsAppTemplatesPage(c *gin.Context) {
	v := s.NewView(c, "whatsapp", "whatsapp.templates.title", nil)
	v.Form["category"], v.Form["language"] = "UTILITY", "de"
	s.renderTemplates(c, http.StatusOK, v, "")
}

func (s *Screens) renderTemplates(c *gin.Context, code int, v *app.View, metaErr string) {
	s.renderTemplatesEdit(c, code, v, metaErr, nil, maxFormButtons)
}

// renderTemplatesEdit renders the templates page: the list and the
// create form, or (edit set) the edit form with rows button rows.
func (s *Screens) renderTemplatesEdit(c *gin.Context, code int, v *app.View, metaErr string, edit *waTemplateEdit, rows int) {
	d := &waTemplatesData{MetaError: metaErr, Edit: edit}
	for i := range rows {
		d.Buttons = append(d.Buttons, i)
	}
	if a := s.waAccount(); a != nil {
		d.Configured = true
		d.Templates = a.WhatsAppTemplates()
	}
	v.Data = d
	s.Render(c, code, "whatsapp_templates", v)
}

// templateFormFields are the create form's fields.
var templateFormFields = []string{"name", "language", "category", "parameter_format", "header", "header_example", "body", "body_examples", "footer"}

// WhatsAppTemplateCreate submits the create form: Meta's rules are
// checked first (the driver's NewTemplate.Check, translated at the
// field), then Meta (or the emulator) reviews it; its refusal is shown
// with Meta's explanation.
func (s *Screens) WhatsAppTemplateCreate(c *gin.Context) {
	v := s.NewView(c, "whatsapp", "whatsapp.templates.title", nil)
	for _, f := range templateFormFields {
		v.Form[f] = strings.TrimSpace(c.PostForm(f))
	}
	for i := range maxFormButtons {
		for _, f := range []string{"type", "text", "value", "example"} {
			k := fmt.Sprintf("button_%s_%d", f, i)
			v.Form[k] = strings.TrimSpace(c.PostForm(k))
		}
	}
	a := s.waAccount()
	if a == nil {
		s.RenderError(c, http.StatusNotFound, "whatsapp.not_configured")
		return
	}
	nt, buttonRow := templateFromForm(v.Form, maxFormButtons)
	ctx, cancel := context.WithTimeout(c.Request.Context(), 30*time.Second)
	defer cancel()
	ti, err := a.CreateWhatsAppTemplate(ctx, nt)
	var fe *whatsapp.TemplateFieldError
	var ae *whatsapp.APIError
	switch {
	case err == nil:
		s.Audit(c, "whatsapp.template.create", ti.Name+" ("+ti.Language+")")
		s.Flash(c, "whatsapp.templates.created")
		c.Redirect(http.StatusSeeOther, "/whatsapp/templates")
		return
	case errors.As(err, &fe):
		templateFieldError(v, fe, buttonRow)
		s.renderTemplates(c, http.StatusUnprocessableEntity, v, "")
	case errors.As(err, &ae):
		msg := strings.Trim(strings.TrimSpace(ae.UserTitle+": "+ae.UserMsg), ": ")
		if msg == "" {
			msg = ae.Error()
		}
		s.renderTemplates(c, http.StatusUnprocessableEntity, v, v.T("whatsapp.templates.meta_refused", msg))
	default:
		s.Log.Warn("WhatsApp template not created", "err", err)
		s.renderTemplates(c, http.StatusBadGateway, v, v.T("whatsapp.templates.failed", v.ErrorText(err)))
	}
}

// templateFieldError shows a rule the template breaks at its form field
// (a button's at its row, buttonRow mapping request index to row).
func templateFieldError(v *app.View, fe *whatsapp.TemplateFieldError, buttonRow map[string]string) {
	field := fe.Field
	if j, ok := strings.CutPrefix(field, "button."); ok {
		field = "button_" + buttonRow[j]
	}
	switch field {
	case "components", "buttons":
		field = "body"
	}
	v.Errors[field] = v.T("whatsapp.tpl.rule." + fe.Rule) // fe.Detail is English (the API's)
}

// templateFromForm builds the template in the order of Meta's examples
// (HEADER, BODY, FOOTER, BUTTONS) from the form with rows button rows;
// buttonRow maps a button's index in the request to its form row.
func templateFromForm(f map[string]string, nrows int) (whatsapp.NewTemplate, map[string]string) {
	nt := whatsapp.NewTemplate{Name: f["name"], Language: f["language"], Category: f["category"]}
	if f["parameter_format"] == "NAMED" {
		nt.ParameterFormat = "NAMED"
	}
	if h := f["header"]; h != "" {
		hc := whatsapp.NewTemplateComponent{Type: "HEADER", Format: "TEXT", Text: h}
		if ex := f["header_example"]; ex != "" {
			hc.Example = &whatsapp.TemplateExample{HeaderText: []string{ex}}
		}
		nt.Components = append(nt.Components, hc)
	}
	body := whatsapp.NewTemplateComponent{Type: "BODY", Text: f["body"]}
	if ex := f["body_examples"]; ex != "" {
		var vals []string
		for _, l := range strings.Split(strings.ReplaceAll(ex, "\r\n", "\n"), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				vals = append(vals, l)
			}
		}
		body.Example = &whatsapp.TemplateExample{BodyText: [][]string{vals}}
	}
	nt.Components = append(nt.Components, body)
	if ft := f["footer"]; ft != "" {
		nt.Components = append(nt.Components, whatsapp.NewTemplateComponent{Type: "FOOTER", Text: ft})
	}
	rows := map[string]string{}
	var buttons []whatsapp.NewTemplateButton
	for i := range nrows {
		k := func(n string) string { return f[fmt.Sprintf("button_%s_%d", n, i)] }
		if k("type") == "" {
			continue
		}
		b := whatsapp.NewTemplateButton{Type: k("type"), Text: k("text")}
		switch b.Type {
		case "URL":
			b.URL = k("value")
			if ex := k("example"); ex != "" {
				b.Example = []string{ex}
			}
		case "PHONE_NUMBER":
			b.PhoneNumber = k("value")
		case "COPY_CODE":
			if ex := k("example"); ex != "" {
				b.Example = []string{ex}
			}
		}
		rows[fmt.Sprint(len(buttons))] = fmt.Sprint(i)
		buttons = append(buttons, b)
	}
	if len(buttons) > 0 {
		nt.Components = append(nt.Components, whatsapp.NewTemplateComponent{Type: "BUTTONS", Buttons: buttons})
	}
	return nt, rows
}

// WhatsAppTemplateDelete deletes a template (the language given in the
// form, or every language) after the confirmation.
func (s *Screens) WhatsAppTemplateDelete(c *gin.Context) {
	a := s.waAccount()
	if a == nil {
		s.RenderError(c, http.StatusNotFound, "whatsapp.not_configured")
		return
	}
	name, lang := c.Param("name"), strings.TrimSpace(c.PostForm("language"))
	ctx, cancel := context.WithTimeout(c.Request.Context(), 30*time.Second)
	defer cancel()
	if err := a.DeleteWhatsAppTemplate(ctx, name, lang); err != nil {
		s.Log.Warn("WhatsApp template not deleted", "template", name, "err", err)
		v := s.NewView(c, "whatsapp", "whatsapp.templates.title", nil)
		v.Form["category"], v.Form["language"] = "UTILITY", "de"
		s.renderTemplates(c, http.StatusBadGateway, v, v.T("whatsapp.templates.delete_failed", name, v.ErrorText(err)))
		return
	}
	s.Audit(c, "whatsapp.template.delete", strings.TrimSpace(name+" "+lang))
	s.Flash(c, "whatsapp.templates.deleted")
	c.Redirect(http.StatusSeeOther, "/whatsapp/templates")
}

// WhatsAppAccountRefresh reads the numbers' standing from Meta now.
func (s *Screens) WhatsAppAccountRefresh(c *gin.Context) {
	a := s.waAccount()
	if a == nil {
		s.RenderError(c, http.StatusNotFound, "whatsapp.not_configured")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 30*time.Second)
	defer cancel()
	if err := a.RefreshWhatsAppNumbers(ctx); err != nil {
		s.Log.Warn("WhatsApp numbers not read from Meta", "err", err)
		s.Flash(c, "whatsapp.account.refresh_failed")
	} else {
		s.Flash(c, "whatsapp.account.refreshed")
	}
	c.Redirect(http.StatusSeeOther, "/whatsapp/account")
}

// WhatsAppTyping answers the reply box's keystrokes in a WhatsApp
// session (POST /whatsapp/typing/:id, whatsapp.js): the contact sees the
// typing indicator on their last message, at most every
// whatsapp.TypingInterval. 204 whether shown or not; 404 for a session
// that is not a WhatsApp one or has no message of the contact yet.
func (s *Screens) WhatsAppTyping(c *gin.Context) {
	a := s.waAccount()
	if a == nil || s.D.Sessions == nil {
		c.Status(http.StatusNotFound)
		return
	}
	id := c.Param("id")
	sess, err := s.D.Sessions.Get(id)
	if err != nil || sess.Kind != message.WhatsApp || sess.State != "open" {
		c.Status(http.StatusNotFound)
		return
	}
	entries, err := s.D.Sessions.Log(id)
	if err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	wamid := ""
	for _, e := range entries {
		if e.Dir == "in" && strings.HasPrefix(e.InboundID, "wamid.") {
			wamid = e.InboundID
		}
	}
	if wamid == "" {
		c.Status(http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 10*time.Second)
	defer cancel()
	if _, err := a.WhatsAppTyping(ctx, sess.Channel, wamid); err != nil {
		s.Log.Warn("WhatsApp typing indicator not shown", "session", id, "err", err)
		c.Status(http.StatusBadGateway)
		return
	}
	c.Status(http.StatusNoContent)
}
