package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// TemplateEdit is an edit of an existing template (POST /{template-id},
// Meta's operation editTemplate in business-messaging-api_v23.0.yaml):
// new components and/or a new category. Name and language cannot change,
// so they are not sent. Meta reviews the edited template again: it goes
// back to PENDING.
type TemplateEdit struct {
	Category   string                 `json:"category,omitempty"`
	Components []NewTemplateComponent `json:"components,omitempty"`
}

// Editable reports whether Meta lets a template of this status be edited
// (APPROVED, REJECTED or PAUSED).
func Editable(status string) bool {
	switch status {
	case "APPROVED", "REJECTED", "PAUSED":
		return true
	}
	return false
}

// EditTemplate sends an edit of template id to Meta.
func (c *Client) EditTemplate(ctx context.Context, id string, e TemplateEdit) error {
	if id == "" {
		return errors.New("whatsapp: the template has no id from Meta; sync the templates first")
	}
	return c.doConfirmed(ctx, http.MethodPost, "/"+url.PathEscape(id), e, "template edit")
}

// Edit checks and submits an edit of template name in language lang and
// keeps the edited template in the local copy as PENDING (Meta reviews it
// again), so campaigns do not start with it until Meta approved it. The
// rules Meta applies are checked first: only an APPROVED, REJECTED or
// PAUSED template can be edited, an approved one keeps its category, and
// the new content follows the rules of a new template (NewTemplate.Check).
// Errors are *TemplateFieldError (field named) or Meta's refusal
// (*APIError, e.g. the edit limits of an approved template).
func (t *Templates) Edit(ctx context.Context, name, lang string, e TemplateEdit) (TemplateInfo, error) {
	ti, ok := t.Get(name, lang)
	if !ok {
		return TemplateInfo{}, fmt.Errorf("%w: no template %q in language %q", ErrTemplate, name, lang)
	}
	fail := func(field, rule, format string, a ...any) error {
		return &TemplateFieldError{Path: field, Field: formField(field), Rule: rule, Detail: fmt.Sprintf(format, a...)}
	}
	if !Editable(ti.Status) {
		return ti, fail("status", "edit_status", "the template is %s; only approved, rejected or paused templates can be edited", ti.Status)
	}
	if e.Category != "" && e.Category != ti.Category && ti.Status == "APPROVED" {
		return ti, fail("category", "edit_category", "the category of an approved template cannot change (it is %s)", ti.Category)
	}
	if e.Category == ti.Category {
		e.Category = "" // unchanged: not part of the edit
	}
	nt := NewTemplate{Name: ti.Name, Language: ti.Language, Category: firstNonEmpty(e.Category, ti.Category), Components: e.Components}
	if ti.Vars.Named {
		nt.ParameterFormat = "NAMED"
	}
	if e.Components != nil {
		if err := nt.Check(); err != nil {
			return ti, err
		}
	} else if e.Category == "" {
		return ti, fail("components", "edit_empty", "nothing to change: give new components or a new category")
	}
	ed, ok := t.src.(templateChanger)
	if !ok {
		return ti, errors.New("whatsapp: templates cannot be edited through this source")
	}
	if err := ed.EditTemplate(ctx, ti.ID, e); err != nil {
		return ti, fmt.Errorf("edit template %s (%s): %w", name, lang, err)
	}
	ti.Status, ti.StatusReason, ti.Category, ti.SyncedAt = "PENDING", "", nt.Category, t.now()
	if e.Components != nil {
		ti.Components = remoteComponents(e.Components)
		ti.Vars = VarsOfTemplate(RemoteTemplate{ID: ti.ID, Name: ti.Name, Language: ti.Language, Status: ti.Status,
			Category: ti.Category, Components: ti.Components, ParameterFormat: nt.ParameterFormat})
	}
	key := templateKey(ti.Name, ti.Language)
	if err := t.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, key, ti) }); err != nil {
		return ti, fmt.Errorf("template %s edited at Meta but not stored: %w", ti.Name, err)
	}
	t.mu.Lock()
	t.byKey[key] = ti
	t.mu.Unlock()
	t.log.Info("whatsapp template edited, back in Meta's review", "template", ti.Name, "language", ti.Language, "id", ti.ID)
	return ti, nil
}

// templateChanger edits templates (*Client).
type templateChanger interface {
	EditTemplate(ctx context.Context, id string, e TemplateEdit) error
}

// NewTemplateOf is ti as a template to submit again (the portal's edit
// form): its components with the samples Meta keeps (example) where the
// local copy has them.
func NewTemplateOf(ti TemplateInfo) NewTemplate {
	nt := NewTemplate{Name: ti.Name, Language: ti.Language, Category: ti.Category}
	if ti.Vars.Named {
		nt.ParameterFormat = "NAMED"
	}
	for _, c := range ti.Components {
		nc := NewTemplateComponent{Type: c.Type, Format: c.Format, Text: c.Text}
		if len(c.Example) > 0 {
			var ex TemplateExample
			if json.Unmarshal(c.Example, &ex) == nil {
				nc.Example = &ex
			}
		}
		for _, b := range c.Buttons {
			nc.Buttons = append(nc.Buttons, NewTemplateButton(b))
		}
		nt.Components = append(nt.Components, nc)
	}
	return nt
}
