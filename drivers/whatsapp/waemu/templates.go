package waemu

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Template is a message template of the emulated WhatsApp Business
// Account, in the shape GET /{waba-id}/message_templates lists it.
type Template struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Language   string              `json:"language"`
	Status     string              `json:"status"`
	Category   string              `json:"category"`
	Components []TemplateComponent `json:"components"`
	// ParameterFormat is NAMED ({{first_name}}; each send parameter
	// carries its parameter_name) or POSITIONAL ({{1}}; the default).
	ParameterFormat string `json:"parameter_format,omitempty"`
	// Quality is the last quality Meta gave it (not listed; webhook only).
	Quality string `json:"-"`
	// edits are when the template was edited while APPROVED (Meta's
	// limits: one per 24 hours, ten per 30 days).
	edits []time.Time
}

// TemplateComponent is a HEADER, BODY, FOOTER or BUTTONS component.
type TemplateComponent struct {
	Type    string           `json:"type"`
	Format  string           `json:"format,omitempty"`
	Text    string           `json:"text,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty"`
	// Example are the samples given for review, listed as Meta lists
	// them (example.body_text …).
	Example json.RawMessage `json:"example,omitempty"`
}

// TemplateButton is a button of a BUTTONS component.
type TemplateButton struct {
	Type    string   `json:"type"`
	Text    string   `json:"text"`
	URL     string   `json:"url,omitempty"`
	Example []string `json:"example,omitempty"`
}

// DefaultTemplates are the templates a new emulator has: Meta's sample
// hello_world, the Fall Sale example from the OpenAPI file, media and
// location headers, a dynamic URL button, and unusable ones (paused,
// rejected) to exercise the errors.
func DefaultTemplates() []Template {
	body := func(t string) TemplateComponent { return TemplateComponent{Type: "BODY", Text: t} }
	return []Template{
		{ID: "1192339204654487", Name: "hello_world", Language: "en_US", Status: "APPROVED", Category: "UTILITY",
			Components: []TemplateComponent{{Type: "HEADER", Format: "TEXT", Text: "Hello World"},
				body("Welcome and congratulations!! This message demonstrates your ability to send a message notification from WhatsApp Business Platform’s Cloud API."),
				{Type: "FOOTER", Text: "WhatsApp Business API Team"}}},
		{ID: "920070352646140", Name: "2023_april_promo", Language: "en_US", Status: "APPROVED", Category: "MARKETING",
			Components: []TemplateComponent{{Type: "HEADER", Format: "TEXT", Text: "Fall Sale"},
				{Type: "BODY", Text: "Hi {{1}}, our Fall Sale is on! Use promo code {{2}} Get an extra 25% off every order above $350!",
					Example: json.RawMessage(`{"body_text":[["Mark","FALL25"]]}`)},
				{Type: "FOOTER", Text: "Not interested in any of our sales? Tap Stop Promotions"},
				{Type: "BUTTONS", Buttons: []TemplateButton{{Type: "QUICK_REPLY", Text: "Stop promotions"}}}}},
		{ID: "700000000000001", Name: "appointment_reminder", Language: "de", Status: "APPROVED", Category: "UTILITY",
			Components: []TemplateComponent{{Type: "HEADER", Format: "TEXT", Text: "Termin {{1}}"},
				body("Hallo {{1}}, Ihr Termin ist am {{2}} um {{3}}."),
				{Type: "BUTTONS", Buttons: []TemplateButton{{Type: "URL", Text: "Verschieben", URL: "https://example.com/t/{{1}}"},
					{Type: "QUICK_REPLY", Text: "Absagen"}}}}},
		{ID: "700000000000002", Name: "appointment_reminder", Language: "en_US", Status: "APPROVED", Category: "UTILITY",
			Components: []TemplateComponent{{Type: "HEADER", Format: "TEXT", Text: "Appointment {{1}}"},
				body("Hello {{1}}, your appointment is on {{2}} at {{3}}."),
				{Type: "BUTTONS", Buttons: []TemplateButton{{Type: "URL", Text: "Reschedule", URL: "https://example.com/t/{{1}}"},
					{Type: "QUICK_REPLY", Text: "Cancel"}}}}},
		{ID: "700000000000003", Name: "invoice_ready", Language: "de", Status: "APPROVED", Category: "UTILITY",
			Components: []TemplateComponent{{Type: "HEADER", Format: "DOCUMENT"}, body("Ihre Rechnung {{1}} über {{2}} liegt bei.")}},
		{ID: "700000000000004", Name: "new_collection", Language: "de", Status: "APPROVED", Category: "MARKETING",
			Components: []TemplateComponent{{Type: "HEADER", Format: "IMAGE"}, body("Neu eingetroffen, {{1}}!")}},
		{ID: "700000000000005", Name: "product_video", Language: "de", Status: "APPROVED", Category: "MARKETING",
			Components: []TemplateComponent{{Type: "HEADER", Format: "VIDEO"}, body("So funktioniert es.")}},
		{ID: "700000000000006", Name: "store_location", Language: "de", Status: "APPROVED", Category: "UTILITY",
			Components: []TemplateComponent{{Type: "HEADER", Format: "LOCATION"}, body("Ihre Abholstation, {{1}}.")}},
		{ID: "700000000000007", Name: "summer_sale", Language: "de", Status: "PAUSED", Category: "MARKETING",
			Components: []TemplateComponent{body("Sommer-Sale: {{1}} % Rabatt!")}},
		{ID: "700000000000008", Name: "old_offer", Language: "de", Status: "REJECTED", Category: "MARKETING",
			Components: []TemplateComponent{body("Nur heute!")}},
		{ID: "700000000000009", Name: "legacy_notice", Language: "de", Status: "DISABLED", Category: "UTILITY",
			Components: []TemplateComponent{body("Hinweis.")}},
	}
}

// SetTemplates replaces the account's templates.
func (s *Server) SetTemplates(ts []Template) {
	s.mu.Lock()
	s.templates = append([]Template(nil), ts...)
	s.mu.Unlock()
}

// AddTemplate adds or replaces (same name and language) a template.
func (s *Server) AddTemplate(t Template) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.templates {
		if x.Name == t.Name && x.Language == t.Language {
			s.templates[i] = t
			return
		}
	}
	s.templates = append(s.templates, t)
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 25
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, 100, "OAuthException", "(#100) Param limit must be a positive number", "")
			return
		}
		limit = min(n, 100)
	}
	start := 0
	if a := q.Get("after"); a != "" {
		b, err := base64.RawURLEncoding.DecodeString(a)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			writeError(w, http.StatusBadRequest, 100, "OAuthException", "(#100) Invalid paging cursor", "")
			return
		}
		start = n
	}
	s.mu.Lock()
	all := append([]Template(nil), s.templates...)
	s.mu.Unlock()
	start = min(start, len(all))
	end := min(start+limit, len(all))
	cursor := func(n int) string { return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(n))) }
	paging := map[string]any{"cursors": map[string]string{"before": cursor(start), "after": cursor(end)}}
	if end < len(all) {
		next := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		nq := url.Values{"limit": {strconv.Itoa(limit)}, "after": {cursor(end)}}
		next.RawQuery = nq.Encode()
		paging["next"] = next.String()
	}
	// Like the Graph API, only the requested fields are returned.
	var data any = all[start:end]
	if f := q.Get("fields"); f != "" {
		want := map[string]bool{}
		for _, k := range strings.Split(f, ",") {
			want[strings.TrimSpace(k)] = true
		}
		var rows []map[string]json.RawMessage
		b, _ := json.Marshal(all[start:end])
		_ = json.Unmarshal(b, &rows)
		for _, row := range rows {
			for k := range row {
				if !want[k] {
					delete(row, k)
				}
			}
		}
		data = rows
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "paging": paging})
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

func countVars(s string) int {
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

type sentParam struct {
	Type          string          `json:"type"`
	ParameterName string          `json:"parameter_name"`
	Text          json.RawMessage `json:"text"`
	Payload       string          `json:"payload"`
	Currency      *struct {
		FallbackValue string `json:"fallback_value"`
		Code          string `json:"code"`
	} `json:"currency"`
	DateTime *struct {
		FallbackValue string `json:"fallback_value"`
	} `json:"date_time"`
	Image      *json.RawMessage `json:"image"`
	Document   *json.RawMessage `json:"document"`
	Video      *json.RawMessage `json:"video"`
	Location   *json.RawMessage `json:"location"`
	CouponCode string           `json:"coupon_code"`
}

// validateTemplate checks a template send against the account's templates
// like Meta does: name and translation exist, status allows sending, and
// the parameters match the placeholders in number and format.
func (s *Server) validateTemplate(raw json.RawMessage) *apiErr {
	var t struct {
		Name     string `json:"name"`
		Language struct {
			Code   string `json:"code"`
			Policy string `json:"policy"`
		} `json:"language"`
		Components []struct {
			Type       string      `json:"type"`
			SubType    string      `json:"sub_type"`
			Index      json.Number `json:"index"`
			Parameters []sentParam `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return badParam("template: %v", err)
	}
	if t.Name == "" || t.Language.Code == "" {
		return refuse(100, "(#100) The parameter template['name'] and template['language']['code'] are required.", "")
	}
	s.mu.Lock()
	var tpl *Template
	nameExists := false
	for i := range s.templates {
		if s.templates[i].Name == t.Name {
			nameExists = true
			if s.templates[i].Language == t.Language.Code {
				tpl = &s.templates[i]
			}
		}
	}
	var tc Template
	if tpl != nil {
		tc = *tpl
	}
	s.mu.Unlock()
	if tpl == nil {
		if nameExists {
			return refuse(132001, "(#132001) Template name does not exist in the translation",
				fmt.Sprintf("template name (%s) does not exist in %s", t.Name, t.Language.Code))
		}
		return refuse(132001, "(#132001) Template name does not exist in the translation",
			fmt.Sprintf("template name (%s) does not exist", t.Name))
	}
	switch tc.Status {
	case "APPROVED":
	case "PAUSED":
		return refuse(132015, "(#132015) Template is paused", "Template is paused due to low quality so it cannot be sent in a template message.")
	case "DISABLED":
		return refuse(132016, "(#132016) Template is disabled", "Template has been paused too many times due to low quality and is now permanently disabled.")
	default:
		return refuse(132001, "(#132001) Template name does not exist in the translation",
			fmt.Sprintf("template %s (%s) is %s, not approved", tc.Name, tc.Language, tc.Status))
	}
	var header, body []sentParam
	buttons := map[int][]sentParam{}
	subTypes := map[int]string{}
	for _, c := range t.Components {
		switch strings.ToLower(c.Type) {
		case "header":
			header = c.Parameters
		case "body":
			body = c.Parameters
		case "button":
			idx, err := strconv.Atoi(c.Index.String())
			if err != nil {
				return badParam("button index %q is not a number", c.Index)
			}
			buttons[idx] = c.Parameters
			subTypes[idx] = strings.ToLower(c.SubType)
		default:
			return badParam("unknown template component type %q", c.Type)
		}
	}
	mismatch := func(where string, want, got int) *apiErr {
		return refuse(132000, "(#132000) Number of parameters does not match the expected number of params",
			fmt.Sprintf("%s: number of localizable_params (%d) does not match the expected number of params (%d)", where, got, want))
	}
	for _, c := range tc.Components {
		switch c.Type {
		case "HEADER":
			format := c.Format
			if format == "" {
				format = "TEXT"
			}
			want := 1
			if format == "TEXT" {
				want = countVars(c.Text)
			}
			if len(header) != want {
				return mismatch("header", want, len(header))
			}
			if format == "TEXT" && want > 0 {
				if ae := checkNames(tc, "header", c.Text, header); ae != nil {
					return ae
				}
			}
			if want == 1 {
				p := header[0]
				if !strings.EqualFold(p.Type, format) {
					return refuse(132012, "(#132012) Parameter format does not match format in the created template",
						fmt.Sprintf("header: Format mismatch, expected %s, received %s", format, strings.ToUpper(p.Type)))
				}
				if ae := checkParam(p); ae != nil {
					return ae
				}
			}
		case "BODY":
			want := countVars(c.Text)
			if len(body) != want {
				return mismatch("body", want, len(body))
			}
			if ae := checkNames(tc, "body", c.Text, body); ae != nil {
				return ae
			}
			for _, p := range body {
				if ae := checkParam(p); ae != nil {
					return ae
				}
			}
		case "BUTTONS":
			for i, b := range c.Buttons {
				needs := (b.Type == "URL" && countVars(b.URL) > 0) || b.Type == "COPY_CODE"
				if needs && len(buttons[i]) != 1 {
					return mismatch(fmt.Sprintf("button %d", i), 1, len(buttons[i]))
				}
			}
			for idx, params := range buttons {
				if idx < 0 || idx >= len(c.Buttons) {
					return badParam("button index %d: the template has %d buttons", idx, len(c.Buttons))
				}
				b := c.Buttons[idx]
				if want := strings.ToLower(b.Type); subTypes[idx] != want {
					return refuse(132012, "(#132012) Parameter format does not match format in the created template",
						fmt.Sprintf("button %d is %s, sub_type %q given", idx, b.Type, subTypes[idx]))
				}
				for _, p := range params {
					if ae := checkButtonParam(b.Type, idx, p); ae != nil {
						return ae
					}
				}
			}
		}
	}
	if len(header) > 0 && !hasComponent(tc, "HEADER") {
		return mismatch("header", 0, len(header))
	}
	return nil
}

// checkNames enforces named parameters: a template with parameter_format
// NAMED needs parameter_name on every parameter, naming each placeholder
// of text exactly once; a positional one takes none.
func checkNames(t Template, where, text string, params []sentParam) *apiErr {
	if !strings.EqualFold(t.ParameterFormat, "NAMED") {
		for _, p := range params {
			if p.ParameterName != "" {
				return refuse(100, "(#100) Invalid parameter",
					fmt.Sprintf("%s: parameter_name %q given for a template with positional parameters", where, p.ParameterName))
			}
		}
		return nil
	}
	want := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		want[m[1]] = true
	}
	seen := map[string]bool{}
	for _, p := range params {
		switch {
		case p.ParameterName == "":
			return refuse(100, "(#100) Invalid parameter", where+": parameter_name is required for templates with parameter_format NAMED")
		case !want[p.ParameterName]:
			return refuse(132000, "(#132000) Number of parameters does not match the expected number of params",
				fmt.Sprintf("%s: parameter_name %q is not a parameter of the template", where, p.ParameterName))
		case seen[p.ParameterName]:
			return refuse(100, "(#100) Invalid parameter", fmt.Sprintf("%s: parameter_name %q given twice", where, p.ParameterName))
		}
		seen[p.ParameterName] = true
	}
	return nil
}

func hasComponent(t Template, typ string) bool {
	for _, c := range t.Components {
		if c.Type == typ {
			return true
		}
	}
	return false
}

func checkParam(p sentParam) *apiErr {
	bad := func(details string) *apiErr {
		return refuse(132012, "(#132012) Parameter format does not match format in the created template", details)
	}
	switch p.Type {
	case "text":
		var s string
		if json.Unmarshal(p.Text, &s) != nil || strings.TrimSpace(s) == "" {
			return refuse(131008, "(#131008) Required parameter is missing", "text parameter needs a non-empty text")
		}
	case "currency":
		if p.Currency == nil || p.Currency.FallbackValue == "" || p.Currency.Code == "" {
			return bad("currency parameter needs fallback_value and code")
		}
	case "date_time":
		if p.DateTime == nil || p.DateTime.FallbackValue == "" {
			return bad("date_time parameter needs fallback_value")
		}
	case "image":
		if p.Image == nil {
			return bad("image parameter without image")
		}
	case "document":
		if p.Document == nil {
			return bad("document parameter without document")
		}
	case "video":
		if p.Video == nil {
			return bad("video parameter without video")
		}
	case "location":
		if p.Location == nil {
			return bad("location parameter without location")
		}
	default:
		return bad(fmt.Sprintf("parameter type %q is not valid here", p.Type))
	}
	return nil
}

// SetTemplateStatus changes a template's status as Meta's review or
// quality system would and sends the message_template_status_update
// webhook Meta sends then (shape of Meta's webhook reference: numeric
// message_template_id, language as "en-US"). event is Meta's: APPROVED,
// PAUSED, DISABLED, REJECTED, REINSTATED …; reason e.g. NONE,
// INVALID_FORMAT; title and description fill other_info when given.
func (s *Server) SetTemplateStatus(ctx context.Context, name, lang, event, reason, title, description string) error {
	status := event
	if event == "REINSTATED" || event == "UNPAUSED" {
		status = "APPROVED"
	}
	s.mu.Lock()
	var found *Template
	for i := range s.templates {
		if s.templates[i].Name == name && s.templates[i].Language == lang {
			s.templates[i].Status = status
			found = &s.templates[i]
		}
	}
	var t Template
	if found != nil {
		t = *found
	}
	s.mu.Unlock()
	if found == nil {
		return fmt.Errorf("no template %s (%s)", name, lang)
	}
	id, err := strconv.ParseInt(t.ID, 10, 64)
	if err != nil {
		return fmt.Errorf("template id %q is not numeric", t.ID)
	}
	v := map[string]any{"event": event, "message_template_id": id, "message_template_name": name,
		"message_template_language": strings.ReplaceAll(lang, "_", "-"), "reason": reason, "message_template_category": t.Category}
	if title != "" || description != "" {
		v["other_info"] = map[string]string{"title": title, "description": description}
	}
	return s.post(ctx, s.accountNotification("message_template_status_update", v))
}

// SetMessagingLimit sends the phone_number_quality_update webhook Meta
// sends when a number's messaging limit changes (tier: TIER_250, TIER_2K,
// TIER_10K, TIER_100K, TIER_UNLIMITED) for phone number id phoneID.
func (s *Server) SetMessagingLimit(ctx context.Context, phoneID, event, tier string) error {
	s.mu.Lock()
	display, ok := s.numbers[phoneID]
	if ok {
		p := s.phoneOf(phoneID)
		p.Tier = tier
		s.phones[phoneID] = p
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("phone number %s is not emulated", phoneID)
	}
	v := map[string]any{"display_phone_number": display, "event": event, "current_limit": tier,
		"max_daily_conversations_per_business": tier}
	return s.post(ctx, s.accountNotification("phone_number_quality_update", v))
}

// accountNotification wraps an account-level change value.
func (s *Server) accountNotification(field string, v map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id": s.o.WABAID, "time": s.o.Now().Unix(),
			"changes": []any{map[string]any{"field": field, "value": v}},
		}},
	})
	return b
}

// checkButtonParam: a URL button takes its suffix as text, a copy-code
// button its code (at most 15 characters) as coupon_code, a quick reply
// its payload.
func checkButtonParam(typ string, idx int, p sentParam) *apiErr {
	bad := func(format string, a ...any) *apiErr {
		return refuse(132012, "(#132012) Parameter format does not match format in the created template",
			fmt.Sprintf("button %d: ", idx)+fmt.Sprintf(format, a...))
	}
	switch typ {
	case "URL":
		var text string
		if p.Type != "text" || json.Unmarshal(p.Text, &text) != nil || text == "" {
			return bad("a URL button takes a text parameter with the URL suffix")
		}
	case "COPY_CODE":
		if p.Type != "coupon_code" || p.CouponCode == "" {
			return bad("a copy-code button takes a coupon_code parameter")
		}
		if n := utf8.RuneCountInString(p.CouponCode); n > 15 {
			return bad("coupon_code has %d characters, at most 15", n)
		}
	case "QUICK_REPLY":
		if p.Type != "payload" {
			return bad("a quick-reply button takes a payload parameter")
		}
	}
	return nil
}
