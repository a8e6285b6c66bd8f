package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// apiSessionMedia serves a picture or document a contact sent in a chat
// session, as the session screen's links do.
func (s *server) apiSessionMedia(c *gin.Context) {
	if !s.apiSessionsReady(c) || !apiHas(c, s.d.Media != nil, "session media are") {
		return
	}
	path, mime, err := s.sessionMediaFile(c)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		apiError(c, http.StatusNotFound, "not_found", "no such media in this session", "")
	case errors.Is(err, errMediaFetch):
		apiError(c, http.StatusBadGateway, "media_unavailable", err.Error(), "")
	case err != nil:
		apiError(c, http.StatusInternalServerError, "internal", "reading the session failed; see the pbxgate log", "")
	default:
		serveSessionMedia(c, path, mime)
	}
}

// apiDashboard is what the dashboard shows: the channel status with the
// traffic chart's buckets, and the running, retrying and pending
// campaigns with their progress.
func (s *server) apiDashboard(c *gin.Context) {
	d := s.dashboardData(c.Request.Context())
	if d.CampaignErr {
		apiError(c, http.StatusInternalServerError, "internal", "listing the active campaigns failed; see the pbxgate log", "")
		return
	}
	out := struct {
		Status    *Status           `json:"status"`
		Campaigns []CampaignSummary `json:"campaigns"`
		// MaxBucket is the chart's scale: the largest sent+failed.
		MaxBucket int `json:"max_bucket"`
	}{Campaigns: nonNil(d.Campaigns), MaxBucket: d.MaxBucket}
	if d.HasStatus {
		out.Status = &d.Status
	}
	c.JSON(http.StatusOK, out)
}

func (s *server) apiStatusReady(c *gin.Context) bool {
	return apiHas(c, s.d.Status != nil, "channel status is")
}

// apiModems lists the modems as the Modems page's table does.
func (s *server) apiModems(c *gin.Context) {
	if s.apiStatusReady(c) {
		apiPage(c, s.d.Status.Status(c.Request.Context()).Modems)
	}
}

func (s *server) apiUSSD(c *gin.Context) {
	if !apiHas(c, s.d.USSD != nil, "the USSD console is") {
		return
	}
	var req struct {
		Code string `json:"code"`
	}
	if !bindJSON(c, &req, `{"code":"*100#"}`) {
		return
	}
	name, code := c.Param("name"), strings.TrimSpace(req.Code)
	if s.d.Status != nil {
		known := false
		for _, m := range s.d.Status.Status(c.Request.Context()).Modems {
			known = known || m.ID == name
		}
		if !known {
			apiError(c, http.StatusNotFound, "not_found", "no modem with this name; GET /api/v1/modems lists them", "")
			return
		}
	}
	answer, err := s.runUSSD(c, name, code)
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		s.apiProblem(c, p)
		return
	} else if err != nil {
		apiError(c, http.StatusBadGateway, "ussd_failed", "the modem did not answer: "+err.Error(), "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"modem": name, "code": code, "answer": answer})
}

// apiWhatsApp is the WhatsApp page: the numbers' status and what to paste
// into Meta's App Dashboard. The verify token is for admins; the access
// token is never known here, only whether it is set.
func (s *server) apiWhatsApp(c *gin.Context) {
	type setup struct {
		WebhookURL    string `json:"webhook_url"`
		VerifyToken   string `json:"verify_token,omitempty"`
		PhoneNumberID string `json:"phone_number_id"`
		BusinessID    string `json:"business_id"`
		APIVersion    string `json:"api_version"`
		TokenSet      bool   `json:"token_set"`
	}
	out := struct {
		Configured bool             `json:"configured"`
		Setup      *setup           `json:"setup,omitempty"`
		Numbers    []WhatsAppStatus `json:"numbers"`
	}{Numbers: []WhatsAppStatus{}}
	if s.d.Status != nil {
		out.Numbers = nonNil(s.d.Status.Status(c.Request.Context()).WhatsApp)
	}
	if wa := s.d.WhatsApp; wa != nil {
		out.Configured = true
		out.Setup = &setup{WebhookURL: webhookURL(c, wa.WebhookPath), PhoneNumberID: wa.PhoneNumberID,
			BusinessID: wa.BusinessID, APIVersion: wa.APIVersion, TokenSet: wa.TokenSet}
		if currentUser(c).Role == users.RoleAdmin {
			out.Setup.VerifyToken = wa.VerifyToken
		}
	}
	c.JSON(http.StatusOK, out)
}

// templateJSON is one synchronised WhatsApp template.
type templateJSON struct {
	Name      string   `json:"name"`
	Language  string   `json:"language"`
	Status    string   `json:"status"`
	Category  string   `json:"category"`
	Header    string   `json:"header,omitempty"`
	Variables []string `json:"variables"`
	Body      string   `json:"body"`
}

func templatesToJSON(list []campaign.TemplateInfo) []templateJSON {
	out := make([]templateJSON, 0, len(list))
	for _, t := range list {
		out = append(out, templateJSON{Name: t.Name, Language: t.Language, Status: t.Status, Category: t.Category,
			Header: t.Header, Variables: nonNil(t.Variables), Body: t.Body})
	}
	return out
}

// apiTemplateList answers the templates (false: it answered an error).
func (s *server) apiTemplateList(c *gin.Context) ([]templateJSON, bool) {
	if !apiHas(c, s.d.Templates != nil, "WhatsApp templates are") {
		return nil, false
	}
	list, err := s.d.Templates.ListTemplates(c.Request.Context())
	if err != nil {
		s.log.Error("api: WhatsApp templates", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "listing the WhatsApp templates failed; see the pbxgate log", "")
		return nil, false
	}
	return templatesToJSON(list), true
}

func (s *server) apiTemplates(c *gin.Context) {
	if list, ok := s.apiTemplateList(c); ok {
		apiPage(c, list)
	}
}

// apiSyncTemplates fetches the templates from Meta now and answers the
// first page of the new list.
func (s *server) apiSyncTemplates(c *gin.Context) {
	if !apiHas(c, s.d.SyncTemplates != nil, "WhatsApp template sync is") {
		return
	}
	if err := s.runTemplateSync(c); err != nil {
		apiError(c, http.StatusBadGateway, "sync_failed", "fetching the templates from Meta failed: "+err.Error(), "")
		return
	}
	s.apiTemplates(c)
}

// apiClickLink reads ?kind=whatsapp|sms&number=&text= into a link; false:
// it answered.
func (s *server) apiClickLink(c *gin.Context) (kind, link, e164 string, ok bool) {
	kind, number := c.DefaultQuery("kind", "whatsapp"), strings.TrimSpace(c.Query("number"))
	if kind != "whatsapp" && kind != "sms" {
		apiError(c, http.StatusBadRequest, "invalid", "kind must be whatsapp or sms", "kind")
		return "", "", "", false
	}
	if number == "" {
		apiError(c, http.StatusBadRequest, "required", "give the number to chat with", "number")
		return "", "", "", false
	}
	link, e164, err := s.makeClickToChat(kind, number, c.Query("text"))
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		s.apiProblem(c, p)
		return "", "", "", false
	}
	return kind, link, e164, true
}

func (s *server) apiClickToChat(c *gin.Context) {
	if kind, link, e164, ok := s.apiClickLink(c); ok {
		c.JSON(http.StatusOK, gin.H{"kind": kind, "number": e164, "link": link})
	}
}

func (s *server) apiClickToChatPNG(c *gin.Context) {
	_, link, _, ok := s.apiClickLink(c)
	if !ok {
		return
	}
	png, err := clicktochat.PNG(link, clicktochat.Medium, 1024)
	if err != nil {
		s.log.Error("api: click-to-chat QR", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "the QR code cannot be made; see the pbxgate log", "")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="click-to-chat.png"`)
	c.Data(http.StatusOK, "image/png", png)
}
