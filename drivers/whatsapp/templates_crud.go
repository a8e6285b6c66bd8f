package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// NewTemplate is a template to create (POST /{waba-id}/message_templates),
// in the shape of Meta's "Create template w/ …" examples. Meta reviews it;
// it starts PENDING and a message_template_status_update webhook tells the
// outcome.
type NewTemplate struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Category string `json:"category"` // MARKETING, UTILITY, AUTHENTICATION
	// ParameterFormat is "NAMED" for {{first_name}} placeholders; empty
	// (Meta's default POSITIONAL) for {{1}}, {{2}} ….
	ParameterFormat string                 `json:"parameter_format,omitempty"`
	Components      []NewTemplateComponent `json:"components"`
}

// NewTemplateComponent is a HEADER (Format TEXT, IMAGE, VIDEO, DOCUMENT or
// LOCATION), BODY, FOOTER or BUTTONS component.
type NewTemplateComponent struct {
	Type    string              `json:"type"`
	Format  string              `json:"format,omitempty"`
	Text    string              `json:"text,omitempty"`
	Example *TemplateExample    `json:"example,omitempty"`
	Buttons []NewTemplateButton `json:"buttons,omitempty"`
}

// TemplateExample holds the sample values Meta's review needs for every
// variable (and a media header's sample handle).
type TemplateExample struct {
	HeaderText   []string   `json:"header_text,omitempty"`
	BodyText     [][]string `json:"body_text,omitempty"`
	HeaderHandle []string   `json:"header_handle,omitempty"`
}

// NewTemplateButton is a QUICK_REPLY, URL, PHONE_NUMBER or COPY_CODE button.
type NewTemplateButton struct {
	Type        string   `json:"type"`
	Text        string   `json:"text"`
	URL         string   `json:"url,omitempty"`
	PhoneNumber string   `json:"phone_number,omitempty"`
	Example     []string `json:"example,omitempty"`
}

// CreatedTemplate is Meta's answer to a creation.
type CreatedTemplate struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Category string `json:"category"`
}

var templateNameRE = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)

// Check applies the rules Meta's review applies at once (so the admin
// sees them before a round trip): name, category, one body of at most
// 1,024 characters, a text header and footer of at most 60, sequential
// positional variables not at the start or end of the body nor side by
// side, a sample for each variable, at most 10 buttons. Errors wrap
// ErrTemplate and name the field.
func (t NewTemplate) Check() error {
	fail := func(field, rule, format string, a ...any) error {
		return &TemplateFieldError{Path: field, Field: formField(field), Rule: rule, Detail: fmt.Sprintf(format, a...)}
	}
	if !templateNameRE.MatchString(t.Name) {
		return fail("name", "name", "%q: use 1-512 lower-case letters, digits and underscores", t.Name)
	}
	if t.Language == "" {
		return fail("language", "language", "missing (e.g. de, en_US)")
	}
	switch t.Category {
	case "MARKETING", "UTILITY", "AUTHENTICATION":
	default:
		return fail("category", "category", "%q: use MARKETING, UTILITY or AUTHENTICATION", t.Category)
	}
	named := strings.EqualFold(t.ParameterFormat, "NAMED")
	bodies := 0
	for i, c := range t.Components {
		where := fmt.Sprintf("components[%d] (%s)", i, c.Type)
		switch c.Type {
		case "BODY":
			bodies++
			if strings.TrimSpace(c.Text) == "" {
				return fail(where, "body_empty", "the body needs a text")
			}
			if n := utf8.RuneCountInString(c.Text); n > 1024 {
				return fail(where, "body_long", "%d characters, at most 1024", n)
			}
			if err := checkVariables(c.Text, named, true); err != nil {
				return fail(where, "variables", "%v", err)
			}
			if n := len(placeholders(c.Text)); n > 0 && (c.Example == nil || len(c.Example.BodyText) != 1 || len(c.Example.BodyText[0]) != n) {
				return fail(where, "body_examples", "needs one sample value for each of its %d variables (example.body_text)", n)
			}
		case "HEADER":
			switch c.Format {
			case "TEXT":
				if n := utf8.RuneCountInString(c.Text); n == 0 || n > 60 {
					return fail(where, "header_length", "a text header has 1 to 60 characters, not %d", n)
				}
				vars := placeholders(c.Text)
				if len(vars) > 1 {
					return fail(where, "header_variables", "a text header takes at most one variable")
				}
				if len(vars) == 1 && (c.Example == nil || len(c.Example.HeaderText) != 1) {
					return fail(where, "header_example", "needs a sample value for its variable (example.header_text)")
				}
			case "IMAGE", "VIDEO", "DOCUMENT":
				if c.Example == nil || len(c.Example.HeaderHandle) == 0 {
					return fail(where, "header_media", "a media header needs a sample (example.header_handle from the resumable upload)")
				}
			case "LOCATION":
			default:
				return fail(where, "header_format", "format %q: use TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION", c.Format)
			}
		case "FOOTER":
			if n := utf8.RuneCountInString(c.Text); n == 0 || n > 60 {
				return fail(where, "footer_length", "a footer has 1 to 60 characters, not %d", n)
			}
		case "BUTTONS":
			if n := len(c.Buttons); n == 0 || n > 10 {
				return fail(where, "buttons_count", "%d buttons; 1 to 10", n)
			}
			for j, b := range c.Buttons {
				bw := fmt.Sprintf("%s.buttons[%d]", where, j)
				if n := utf8.RuneCountInString(b.Text); n == 0 || n > 25 {
					return fail(bw, "button_text", "button text has 1 to 25 characters, not %d", n)
				}
				switch b.Type {
				case "QUICK_REPLY", "COPY_CODE":
				case "URL":
					if !strings.HasPrefix(b.URL, "https://") && !strings.HasPrefix(b.URL, "http://") {
						return fail(bw, "button_url", "URL %q is not http(s)", b.URL)
					}
					if countVars(b.URL) > 0 && len(b.Example) == 0 {
						return fail(bw, "button_url_example", "a URL with a variable needs a sample (example)")
					}
				case "PHONE_NUMBER":
					if b.PhoneNumber == "" {
						return fail(bw, "button_phone", "needs phone_number")
					}
				default:
					return fail(bw, "button_type", "type %q: use QUICK_REPLY, URL, PHONE_NUMBER or COPY_CODE", b.Type)
				}
			}
		default:
			return fail(where, "component_type", "type %q: use HEADER, BODY, FOOTER or BUTTONS", c.Type)
		}
	}
	if bodies != 1 {
		return fail("components", "bodies", "%d BODY components; a template has exactly one", bodies)
	}
	return nil
}

// TemplateFieldError is the first rule of Meta's a new template breaks
// (NewTemplate.Check); it wraps ErrTemplate.
type TemplateFieldError struct {
	// Path is where in the request: name, category, components[2] (BODY),
	// components[3] (BUTTONS).buttons[1] ….
	Path string
	// Field is the form field: name, language, category, header, body,
	// footer, buttons, button.<j> (0-based) or components.
	Field string
	// Rule is a machine word for the rule (translations: the portal's
	// "whatsapp.tpl.rule.<Rule>"): name, body_examples, button_url ….
	Rule string
	// Detail explains it in English.
	Detail string
}

func (e *TemplateFieldError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrTemplate, e.Path, e.Detail)
}

func (e *TemplateFieldError) Unwrap() error { return ErrTemplate }

var buttonPathRE = regexp.MustCompile(`\.buttons\[(\d+)\]$`)

// formField maps a request path to the form field it came from.
func formField(path string) string {
	if m := buttonPathRE.FindStringSubmatch(path); m != nil {
		return "button." + m[1]
	}
	for _, f := range []string{"BODY", "HEADER", "FOOTER", "BUTTONS"} {
		if strings.HasSuffix(path, "("+f+")") {
			return strings.ToLower(f)
		}
	}
	return path
}

var (
	varRE      = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	namedVarRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// checkVariables: positional variables are {{1}}…{{n}} in order of first
// use; named ones lower-case names; none at the very start or end, none
// directly after another (Meta rejects those with INVALID_FORMAT).
func checkVariables(text string, named, body bool) error {
	locs := varRE.FindAllStringSubmatchIndex(text, -1)
	next := 1
	seen := map[string]bool{}
	for i, l := range locs {
		name := text[l[2]:l[3]]
		switch {
		case named && !namedVarRE.MatchString(name):
			return fmt.Errorf("variable {{%s}}: a named variable is lower case letters, digits and underscores", name)
		case !named && !seen[name]:
			if name != fmt.Sprint(next) {
				return fmt.Errorf("variable {{%s}}: positional variables are numbered {{1}}, {{2}} … in order", name)
			}
			next++
		}
		seen[name] = true
		if i > 0 && strings.TrimSpace(text[locs[i-1][1]:l[0]]) == "" {
			return errors.New("two variables side by side; put text between them")
		}
	}
	if body && len(locs) > 0 {
		if strings.TrimSpace(text[:locs[0][0]]) == "" || strings.TrimSpace(text[locs[len(locs)-1][1]:]) == "" {
			return errors.New("the body may not start or end with a variable")
		}
	}
	return nil
}

// CreateTemplate submits t for review.
func (c *Client) CreateTemplate(ctx context.Context, t NewTemplate) (CreatedTemplate, error) {
	var out CreatedTemplate
	if c.wabaID == "" {
		return out, errors.New("whatsapp.business_account_id is not set: templates cannot be created")
	}
	b, err := json.Marshal(t)
	if err != nil {
		return out, err
	}
	req, err := http.NewRequest(http.MethodPost, c.base+"/"+c.wabaID+"/message_templates", bytes.NewReader(b))
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.do(ctx, req, &out); err != nil {
		return out, err
	}
	if out.ID == "" {
		return out, errors.New("whatsapp: template created without an id in Meta's answer")
	}
	return out, nil
}

// DeleteTemplate deletes template name: every language, or with id only
// that one (hsm_id).
func (c *Client) DeleteTemplate(ctx context.Context, name, id string) error {
	if c.wabaID == "" {
		return errors.New("whatsapp.business_account_id is not set: templates cannot be deleted")
	}
	q := url.Values{"name": {name}}
	if id != "" {
		q.Set("hsm_id", id)
	}
	return c.doConfirmed(ctx, http.MethodDelete, "/"+c.wabaID+"/message_templates?"+q.Encode(), nil, "template deletion")
}

// remoteComponents is what Meta lists for a template submitted with cs.
func remoteComponents(cs []NewTemplateComponent) []RemoteTemplateComponent {
	var out []RemoteTemplateComponent
	for _, c := range cs {
		rc := RemoteTemplateComponent{Type: c.Type, Format: c.Format, Text: c.Text}
		if c.Example != nil {
			rc.Example, _ = json.Marshal(c.Example)
		}
		for _, b := range c.Buttons {
			rc.Buttons = append(rc.Buttons, RemoteButton(b))
		}
		out = append(out, rc)
	}
	return out
}

// Create checks t, submits it and keeps it in the local copy with the
// status Meta gave (PENDING), so the portal lists it at once; the status
// webhook or the next sync moves it on.
func (t *Templates) Create(ctx context.Context, nt NewTemplate) (TemplateInfo, error) {
	if err := nt.Check(); err != nil {
		return TemplateInfo{}, err
	}
	cr, ok := t.src.(templateEditor)
	if !ok {
		return TemplateInfo{}, errors.New("whatsapp: templates cannot be created through this source")
	}
	created, err := cr.CreateTemplate(ctx, nt)
	if err != nil {
		return TemplateInfo{}, fmt.Errorf("create template %s (%s): %w", nt.Name, nt.Language, err)
	}
	rt := RemoteTemplate{ID: created.ID, Name: nt.Name, Language: nt.Language, Status: created.Status,
		Category: firstNonEmpty(created.Category, nt.Category), ParameterFormat: nt.ParameterFormat}
	rt.Components = remoteComponents(nt.Components)
	ti := TemplateInfo{ID: rt.ID, Name: rt.Name, Language: rt.Language, Status: rt.Status, Category: rt.Category,
		Components: rt.Components, Vars: VarsOfTemplate(rt), SyncedAt: t.now()}
	key := templateKey(ti.Name, ti.Language)
	if err := t.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, key, ti) }); err != nil {
		return ti, fmt.Errorf("template %s created at Meta but not stored: %w", ti.Name, err)
	}
	t.mu.Lock()
	t.byKey[key] = ti
	t.mu.Unlock()
	t.log.Info("whatsapp template submitted for review", "template", ti.Name, "language", ti.Language, "id", ti.ID, "status", ti.Status)
	return ti, nil
}

// Delete deletes template name at Meta (only language lang when given)
// and from the local copy.
func (t *Templates) Delete(ctx context.Context, name, lang string) error {
	cr, ok := t.src.(templateEditor)
	if !ok {
		return errors.New("whatsapp: templates cannot be deleted through this source")
	}
	id := ""
	if lang != "" {
		ti, ok := t.Get(name, lang)
		if !ok {
			return fmt.Errorf("%w: no template %q in language %q", ErrTemplate, name, lang)
		}
		id = ti.ID
	}
	if err := cr.DeleteTemplate(ctx, name, id); err != nil {
		return fmt.Errorf("delete template %s: %w", name, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []string
	for k, ti := range t.byKey {
		if ti.Name == name && (lang == "" || ti.Language == lang) {
			gone = append(gone, k)
		}
	}
	err := t.st.Update(func(txn *store.Txn) error {
		for _, k := range gone {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("template %s deleted at Meta but not locally: %w", name, err)
	}
	for _, k := range gone {
		delete(t.byKey, k)
	}
	t.log.Info("whatsapp template deleted", "template", name, "language", lang)
	return nil
}

// templateEditor creates and deletes templates (*Client).
type templateEditor interface {
	CreateTemplate(ctx context.Context, t NewTemplate) (CreatedTemplate, error)
	DeleteTemplate(ctx context.Context, name, id string) error
}
