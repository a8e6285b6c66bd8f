package waemu

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The phone-number node, GET /{phone-number-id}?fields=… (operation
// getPhoneNumberById of Meta's OpenAPI description): the default fields
// are those of its schema PhoneNumberInfo (id, display_phone_number,
// verified_name, quality_rating); name_status, code_verification_status,
// status, messaging_limit_tier (enum of WhatsAppBusinessAccountPhoneNumber)
// and throughput ({"level": …}) come when asked for. A field the node
// does not have is refused with Meta's code 100.

// Phone is the standing of one emulated number.
type Phone struct {
	VerifiedName  string `json:"verified_name"`
	QualityRating string `json:"quality_rating"` // GREEN, YELLOW, RED, NA
	NameStatus    string `json:"name_status"`    // APPROVED, PENDING_REVIEW, DECLINED …
	Status        string `json:"status"`         // CONNECTED, FLAGGED, RESTRICTED …
	Tier          string `json:"messaging_limit_tier"`
	Throughput    string `json:"throughput"` // STANDARD or HIGH
}

// defaultPhone is a new number in good standing.
func defaultPhone() Phone {
	return Phone{VerifiedName: "pbxgate Demo", QualityRating: "GREEN", NameStatus: "APPROVED", Status: "CONNECTED",
		Tier: "TIER_1K", Throughput: "STANDARD"}
}

var phoneFields = map[string]bool{"id": true, "display_phone_number": true, "verified_name": true, "quality_rating": true,
	"name_status": true, "code_verification_status": true, "status": true, "messaging_limit_tier": true, "throughput": true}

// phoneOf is the standing of phone number id (the default until changed).
func (s *Server) phoneOf(id string) Phone {
	if p, ok := s.phones[id]; ok {
		return p
	}
	return defaultPhone()
}

func (s *Server) phoneInfo(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	display := s.numbers[id]
	p := s.phoneOf(id)
	s.phoneReads++
	s.mu.Unlock()
	fields := []string{"id", "display_phone_number", "verified_name", "quality_rating"}
	if f := r.URL.Query().Get("fields"); f != "" {
		fields = strings.Split(f, ",")
	}
	out := map[string]any{}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if !phoneFields[f] {
			writeError(w, http.StatusBadRequest, 100, "OAuthException", fmt.Sprintf("(#100) Tried accessing nonexisting field (%s) on node type (WhatsAppBusinessPhoneNumber)", f), "")
			return
		}
		switch f {
		case "id":
			out[f] = id
		case "display_phone_number":
			out[f] = "+" + display
		case "verified_name":
			out[f] = p.VerifiedName
		case "quality_rating":
			out[f] = p.QualityRating
		case "name_status":
			out[f] = p.NameStatus
		case "code_verification_status":
			out[f] = "VERIFIED"
		case "status":
			out[f] = p.Status
		case "messaging_limit_tier":
			out[f] = p.Tier
		case "throughput":
			out[f] = map[string]string{"level": p.Throughput}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// PhoneReads counts GET /{phone-number-id} requests answered.
func (s *Server) PhoneReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phoneReads
}

var (
	qualities = map[string]bool{"GREEN": true, "YELLOW": true, "RED": true, "NA": true}
	tiers     = map[string]int{"TIER_50": 50, "TIER_250": 250, "TIER_1K": 1000, "TIER_2K": 2000, "TIER_10K": 10000, "TIER_100K": 100000, "TIER_UNLIMITED": 0}
)

// SetPhone changes a number's standing as Meta's quality system would.
// When the quality rating or messaging limit changed it sends the
// phone_number_quality_update webhook Meta sends then (shape of Meta's
// webhook reference: display_phone_number, event, current_limit and
// max_daily_conversations_per_business); event defaults to ONBOARDING
// for a new tier, FLAGGED for RED and UNFLAGGED otherwise.
func (s *Server) SetPhone(ctx context.Context, phoneID string, p Phone, event string) error {
	if p.QualityRating != "" && !qualities[p.QualityRating] {
		return fmt.Errorf("quality %q: use GREEN, YELLOW, RED or NA", p.QualityRating)
	}
	if _, ok := tiers[p.Tier]; p.Tier != "" && !ok {
		return fmt.Errorf("tier %q: use TIER_50, TIER_250, TIER_1K, TIER_2K, TIER_10K, TIER_100K or TIER_UNLIMITED", p.Tier)
	}
	s.mu.Lock()
	display, ok := s.numbers[phoneID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("phone number %s is not emulated", phoneID)
	}
	old := s.phoneOf(phoneID)
	cur := old
	for _, f := range []struct {
		to *string
		v  string
	}{{&cur.VerifiedName, p.VerifiedName}, {&cur.QualityRating, p.QualityRating},
		{&cur.NameStatus, p.NameStatus}, {&cur.Status, p.Status}, {&cur.Tier, p.Tier}, {&cur.Throughput, p.Throughput}} {
		if f.v != "" {
			*f.to = f.v
		}
	}
	s.phones[phoneID] = cur
	s.mu.Unlock()
	if cur.QualityRating == old.QualityRating && cur.Tier == old.Tier && event == "" {
		return nil
	}
	if event == "" {
		switch {
		case cur.Tier != old.Tier && tiers[cur.Tier] > tiers[old.Tier] || cur.Tier == "TIER_UNLIMITED":
			event = "UPGRADE"
		case cur.Tier != old.Tier:
			event = "DOWNGRADE"
		case cur.QualityRating == "RED":
			event = "FLAGGED"
		default:
			event = "UNFLAGGED"
		}
	}
	v := map[string]any{"display_phone_number": display, "event": event, "current_limit": cur.Tier,
		"max_daily_conversations_per_business": cur.Tier}
	return s.post(ctx, s.accountNotification("phone_number_quality_update", v))
}

// SetTemplateQuality sends Meta's message_template_quality_update for a
// template (shape of Meta's webhook reference: previous_quality_score,
// new_quality_score, numeric message_template_id, language "en-US").
func (s *Server) SetTemplateQuality(ctx context.Context, name, lang, quality string) error {
	s.mu.Lock()
	var t *Template
	for i := range s.templates {
		if s.templates[i].Name == name && s.templates[i].Language == lang {
			t = &s.templates[i]
		}
	}
	var id, prev string
	if t != nil {
		id, prev = t.ID, t.Quality
		if prev == "" {
			prev = "UNKNOWN"
		}
		t.Quality = quality
	}
	s.mu.Unlock()
	if t == nil {
		return fmt.Errorf("no template %s (%s)", name, lang)
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("template id %q is not numeric", id)
	}
	return s.post(ctx, s.accountNotification("message_template_quality_update", map[string]any{
		"previous_quality_score": prev, "new_quality_score": quality, "message_template_id": n,
		"message_template_name": name, "message_template_language": strings.ReplaceAll(lang, "_", "-")}))
}

// controlPhone serves POST /_emu/phone and /_emu/template_quality.
func (s *Server) controlPhone(w http.ResponseWriter, r *http.Request, what string) {
	switch what {
	case "phone":
		var f struct {
			PhoneNumberID string `json:"phone_number_id"`
			Event         string `json:"event"`
			Phone
		}
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, `want {"phone_number_id": "106540352242922", "quality_rating": "RED", "messaging_limit_tier": "TIER_250", "status": "FLAGGED", "name_status": "DECLINED"}`, http.StatusBadRequest)
			return
		}
		if f.PhoneNumberID == "" {
			f.PhoneNumberID = s.o.PhoneNumberID
		}
		if err := s.SetPhone(r.Context(), f.PhoneNumberID, f.Phone, f.Event); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	case "template_quality":
		var f struct{ Name, Language, Quality string }
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil || f.Name == "" || f.Language == "" || !qualities[f.Quality] && f.Quality != "UNKNOWN" {
			http.Error(w, `want {"name": "hello_world", "language": "en_US", "quality": "YELLOW"}`, http.StatusBadRequest)
			return
		}
		if err := s.SetTemplateQuality(r.Context(), f.Name, f.Language, f.Quality); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
