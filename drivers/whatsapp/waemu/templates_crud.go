package waemu

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Template creation and deletion (POST and DELETE
// /{waba-id}/message_templates) with the checks Meta makes when a
// template is submitted; the request shape is that of Meta's "Create
// template w/ …" examples. A created template is PENDING until
// SetTemplateStatus approves or rejects it (with the webhook).

type createReq struct {
	Name            string                   `json:"name"`
	Language        string                   `json:"language"`
	Category        string                   `json:"category"`
	ParameterFormat string                   `json:"parameter_format"`
	Components      []createReqComponentJSON `json:"components"`
}

// createReqComponentJSON is a component of a creation or edit body.
type createReqComponentJSON struct {
	Type    string `json:"type"`
	Format  string `json:"format"`
	Text    string `json:"text"`
	Example *struct {
		HeaderText    []string   `json:"header_text"`
		BodyText      [][]string `json:"body_text"`
		HeaderHandle  []string   `json:"header_handle"`
		BodyTextNamed []struct {
			ParamName string `json:"param_name"`
			Example   string `json:"example"`
		} `json:"body_text_named_params"`
	} `json:"example"`
	Buttons []createReqButton `json:"buttons"`
}

// createReqButton is a button of a BUTTONS component.
type createReqButton struct {
	Type        string   `json:"type"`
	Text        string   `json:"text"`
	URL         string   `json:"url"`
	PhoneNumber string   `json:"phone_number"`
	Example     []string `json:"example"`
}

var (
	tplNameRE  = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	tplVarRE   = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	tplNamedRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// userErr is Meta's answer to a template it refuses: code 100 with a
// title and message for people.
func userErr(w http.ResponseWriter, title, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
		"message": "Invalid parameter", "type": "OAuthException", "code": 100,
		"error_user_title": title, "error_user_msg": msg, "fbtrace_id": randomID(12)}})
}

// decodeTemplate reads a template request's JSON body into v as Meta
// does (JSON only, unknown fields refused); on false it has answered.
func (s *Server) decodeTemplate(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		s.reject(w, badParam("Content-Type must be application/json"))
		return false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.reject(w, badParam("cannot read body"))
		return false
	}
	if err := strictDecode(raw, v); err != nil {
		s.reject(w, badParam("template: %v", err))
		return false
	}
	return true
}

func (s *Server) createTemplate(w http.ResponseWriter, r *http.Request) {
	var t createReq
	if !s.decodeTemplate(w, r, &t) {
		return
	}
	if title, msg := checkNewTemplate(t); title != "" {
		userErr(w, title, "%s", msg)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.templates {
		if x.Name == t.Name && x.Language == t.Language {
			userErr(w, "Content in this language already exists", "The template %s already has content in %s; edit it or choose another name.", t.Name, t.Language)
			return
		}
	}
	nt := Template{ID: strconv.FormatInt(1_000_000_000_000_000+rand.Int64N(1_000_000_000_000_000), 10), Name: t.Name, Language: t.Language,
		Status: "PENDING", Category: t.Category, ParameterFormat: strings.ToUpper(t.ParameterFormat)}
	for _, c := range t.Components {
		tc := TemplateComponent{Type: c.Type, Format: c.Format, Text: c.Text}
		if c.Example != nil {
			tc.Example, _ = json.Marshal(c.Example)
		}
		for _, b := range c.Buttons {
			tc.Buttons = append(tc.Buttons, TemplateButton{Type: b.Type, Text: b.Text, URL: b.URL, Example: b.Example})
		}
		nt.Components = append(nt.Components, tc)
	}
	s.templates = append(s.templates, nt)
	writeJSON(w, http.StatusOK, map[string]string{"id": nt.ID, "status": nt.Status, "category": nt.Category})
}

// checkNewTemplate returns Meta-like title and message for the first
// rule t breaks ("" when none).
func checkNewTemplate(t createReq) (string, string) {
	if !tplNameRE.MatchString(t.Name) {
		return "Invalid template name", fmt.Sprintf("name %q may only contain lower-case letters, digits and underscores (at most 512)", t.Name)
	}
	if t.Language == "" {
		return "Language is missing", "language is required"
	}
	switch t.Category {
	case "MARKETING", "UTILITY", "AUTHENTICATION":
	default:
		return "Invalid category", fmt.Sprintf("category %q is not MARKETING, UTILITY or AUTHENTICATION", t.Category)
	}
	named := strings.EqualFold(t.ParameterFormat, "NAMED")
	bodies := 0
	for _, c := range t.Components {
		switch c.Type {
		case "BODY":
			bodies++
			if utf8.RuneCountInString(c.Text) > 1024 || strings.TrimSpace(c.Text) == "" {
				return "Invalid body", "the body text has 1 to 1024 characters"
			}
			n, msg := varsOf(c.Text, named)
			if msg != "" {
				return "Invalid parameter format", msg
			}
			switch {
			case n == 0:
			case named && c.Example != nil && len(c.Example.BodyTextNamed) == n:
			case !named && c.Example != nil && len(c.Example.BodyText) == 1 && len(c.Example.BodyText[0]) == n:
			default:
				return "Sample values are missing", fmt.Sprintf("the body has %d variables; give a sample for each in example", n)
			}
		case "HEADER":
			switch c.Format {
			case "TEXT":
				if n := utf8.RuneCountInString(c.Text); n == 0 || n > 60 {
					return "Invalid header", "a text header has 1 to 60 characters"
				}
				n, msg := varsOf(c.Text, named)
				if msg != "" || n > 1 {
					return "Invalid header", "a text header has at most one variable"
				}
				if n == 1 && (c.Example == nil || len(c.Example.HeaderText) != 1) {
					return "Sample values are missing", "give a sample for the header variable in example.header_text"
				}
			case "IMAGE", "VIDEO", "DOCUMENT":
				if c.Example == nil || len(c.Example.HeaderHandle) == 0 {
					return "Sample is missing", "a media header needs example.header_handle"
				}
			case "LOCATION":
			default:
				return "Invalid header", fmt.Sprintf("header format %q is not TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION", c.Format)
			}
		case "FOOTER":
			if n := utf8.RuneCountInString(c.Text); n == 0 || n > 60 {
				return "Invalid footer", "a footer has 1 to 60 characters"
			}
		case "BUTTONS":
			if len(c.Buttons) == 0 || len(c.Buttons) > 10 {
				return "Invalid buttons", "a template has 1 to 10 buttons"
			}
			for _, b := range c.Buttons {
				if n := utf8.RuneCountInString(b.Text); n == 0 || n > 25 {
					return "Invalid button", "button text has 1 to 25 characters"
				}
				switch b.Type {
				case "QUICK_REPLY", "COPY_CODE", "PHONE_NUMBER":
				case "URL":
					if n, _ := varsOf(b.URL, false); n > 0 && len(b.Example) == 0 {
						return "Sample values are missing", "a URL with a variable needs example"
					}
				default:
					return "Invalid button", fmt.Sprintf("button type %q", b.Type)
				}
			}
		default:
			return "Invalid component", fmt.Sprintf("component type %q", c.Type)
		}
	}
	if bodies != 1 {
		return "Invalid components", "a template has exactly one BODY"
	}
	return "", ""
}

// varsOf counts the distinct variables of text and checks their form.
func varsOf(text string, named bool) (int, string) {
	locs := tplVarRE.FindAllStringSubmatchIndex(text, -1)
	seen := map[string]bool{}
	for i, l := range locs {
		v := text[l[2]:l[3]]
		if named {
			if !tplNamedRE.MatchString(v) {
				return 0, fmt.Sprintf("variable {{%s}} is not a lower-case name", v)
			}
		} else if !seen[v] && v != strconv.Itoa(len(seen)+1) {
			return 0, fmt.Sprintf("variable {{%s}}: variables are numbered {{1}}, {{2}} … in order", v)
		}
		seen[v] = true
		if i > 0 && strings.TrimSpace(text[locs[i-1][1]:l[0]]) == "" {
			return 0, "Your template has parameters placed next to each other without text or punctuation between them."
		}
	}
	if len(locs) > 0 && (strings.TrimSpace(text[:locs[0][0]]) == "" || strings.TrimSpace(text[locs[len(locs)-1][1]:]) == "") {
		return 0, "variables may not be at the start or end of the text"
	}
	return len(seen), ""
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) {
	name, id := r.URL.Query().Get("name"), r.URL.Query().Get("hsm_id")
	if name == "" {
		s.reject(w, refuse(100, "(#100) The parameter name is required", ""))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.templates[:0:0]
	n := 0
	for _, t := range s.templates {
		if t.Name == name && (id == "" || t.ID == id) {
			n++
			continue
		}
		kept = append(kept, t)
	}
	if n == 0 {
		userErr(w, "Message template not found", "There is no template %s%s in this account.", name, map[bool]string{true: " with id " + id}[id != ""])
		return
	}
	s.templates = kept
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}
