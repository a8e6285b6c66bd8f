package waemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Template editing (POST /{template-id}, Meta's operation editTemplate in
// business-messaging-api_v23.0.yaml; body: category and/or components,
// answer {"success": true}) with the rules of Meta's template
// documentation ("Edit a template"):
//   - only APPROVED, REJECTED or PAUSED templates can be edited;
//   - name and language cannot change (Meta's example repeats them);
//   - an APPROVED template can be edited at most once per 24 hours and 10
//     times per 30 days, and its category cannot change;
//   - the edited template goes back to review: PENDING until
//     SetTemplateStatus approves or rejects it (with the webhook).

// editReq is the edit body (Meta's editTemplate request schema).
type editReq struct {
	Name       string                   `json:"name"`
	Language   string                   `json:"language"`
	Category   string                   `json:"category"`
	Components []createReqComponentJSON `json:"components"`
}

// Edit limits of an approved template.
const (
	editsPerDay   = 1
	editsPer30Day = 10
)

// isTemplate reports whether id is one of the account's templates.
func (s *Server) isTemplate(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.templates {
		if t.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) editTemplate(w http.ResponseWriter, r *http.Request, id string) {
	var e editReq
	if !s.decodeTemplate(w, r, &e) {
		return
	}
	if e.Category == "" && e.Components == nil {
		s.reject(w, badParam("give the template's new components or category"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var t *Template
	for i := range s.templates {
		if s.templates[i].ID == id {
			t = &s.templates[i]
		}
	}
	if t == nil {
		writeError(w, http.StatusBadRequest, 100, "GraphMethodException",
			fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", id), "")
		return
	}
	switch t.Status {
	case "APPROVED", "REJECTED", "PAUSED":
	default:
		userErr(w, "Template can't be edited", "Only templates with the status approved, rejected or paused can be edited; %s is %s.", t.Name, t.Status)
		return
	}
	if (e.Name != "" && e.Name != t.Name) || (e.Language != "" && e.Language != t.Language) {
		userErr(w, "Name or language can't be changed", "The name and language of a template can't be edited; create a new template instead.")
		return
	}
	now := s.o.Now()
	if t.Status == "APPROVED" {
		if e.Category != "" && e.Category != t.Category {
			userErr(w, "Category can't be changed", "The category of an approved template can't be edited (it is %s).", t.Category)
			return
		}
		day, month := 0, 0
		for _, at := range t.edits {
			if now.Sub(at) < 24*time.Hour {
				day++
			}
			if now.Sub(at) < 30*24*time.Hour {
				month++
			}
		}
		if day >= editsPerDay {
			userErr(w, "Edit limit reached", "An approved template can be edited once in 24 hours; try again later.")
			return
		}
		if month >= editsPer30Day {
			userErr(w, "Edit limit reached", "An approved template can be edited up to 10 times in 30 days.")
			return
		}
	}
	category := t.Category
	if e.Category != "" {
		category = e.Category
	}
	check := createReq{Name: t.Name, Language: t.Language, Category: category, ParameterFormat: t.ParameterFormat, Components: e.Components}
	if e.Components == nil {
		// A category-only edit: the content stays as reviewed.
		check.Components = []createReqComponentJSON{{Type: "BODY", Text: "x"}}
	}
	if title, msg := checkNewTemplate(check); title != "" {
		userErr(w, title, "%s", msg)
		return
	}
	if t.Status == "APPROVED" {
		t.edits = append(t.edits, now)
	}
	t.Category, t.Status = category, "PENDING"
	if e.Components != nil {
		t.Components = nil
		for _, c := range e.Components {
			tc := TemplateComponent{Type: c.Type, Format: c.Format, Text: c.Text}
			if c.Example != nil {
				tc.Example, _ = json.Marshal(c.Example)
			}
			for _, b := range c.Buttons {
				tc.Buttons = append(tc.Buttons, TemplateButton{Type: b.Type, Text: b.Text, URL: b.URL, Example: b.Example})
			}
			t.Components = append(t.Components, tc)
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}
