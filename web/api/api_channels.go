package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// APISessionMedia serves a picture or document a contact sent in a chat
// session, as the session screen's links do.
func (s *API) APISessionMedia(c *gin.Context) {
	if !s.apiSessionsReady(c) || !apiHas(c, s.D.Media != nil, "session media are") {
		return
	}
	path, mime, err := s.SessionMediaFile(c)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		app.APIError(c, http.StatusNotFound, "not_found", "no such media in this session", "")
	case errors.Is(err, app.ErrMediaFetch):
		app.APIError(c, http.StatusBadGateway, "media_unavailable", err.Error(), "")
	case err != nil:
		app.APIError(c, http.StatusInternalServerError, "internal", "reading the session failed; see the pbxgate log", "")
	default:
		app.ServeSessionMedia(c, path, mime)
	}
}

// APIDashboard is what the dashboard shows: the channel status with the
// traffic chart's buckets, and the running, retrying and pending
// campaigns with their progress.
func (s *API) APIDashboard(c *gin.Context) {
	d := s.DashboardData(c.Request.Context())
	if d.CampaignErr {
		app.APIError(c, http.StatusInternalServerError, "internal", "listing the active campaigns failed; see the pbxgate log", "")
		return
	}
	out := struct {
		Status    *app.Status           `json:"status"`
		Campaigns []app.CampaignSummary `json:"campaigns"`
		// MaxBucket is the chart's scale: the largest sent+failed.
		MaxBucket int `json:"max_bucket"`
	}{Campaigns: app.NonNil(d.Campaigns), MaxBucket: d.MaxBucket}
	if d.HasStatus {
		out.Status = &d.Status
	}
	c.JSON(http.StatusOK, out)
}

func (s *API) apiStatusReady(c *gin.Context) bool {
	return apiHas(c, s.D.Status != nil, "channel status is")
}

// APIModems lists the modems as the Modems page's table does.
func (s *API) APIModems(c *gin.Context) {
	if s.apiStatusReady(c) {
		app.APIPage(c, s.D.Status.Status(c.Request.Context()).Modems)
	}
}

func (s *API) APIUSSD(c *gin.Context) {
	if !apiHas(c, s.D.USSD != nil, "the USSD console is") {
		return
	}
	var req struct {
		Code string `json:"code"`
	}
	if !app.BindJSON(c, &req, `{"code":"*100#"}`) {
		return
	}
	name, code := c.Param("name"), strings.TrimSpace(req.Code)
	if s.D.Status != nil {
		known := false
		for _, m := range s.D.Status.Status(c.Request.Context()).Modems {
			known = known || m.ID == name
		}
		if !known {
			app.APIError(c, http.StatusNotFound, "not_found", "no modem with this name; GET /api/v1/modems lists them", "")
			return
		}
	}
	answer, err := s.RunUSSD(c, name, code)
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		s.APIProblem(c, p)
		return
	} else if err != nil {
		app.APIError(c, http.StatusBadGateway, "ussd_failed", "the modem did not answer: "+err.Error(), "")
		return
	}
	c.JSON(http.StatusOK, gin.H{"modem": name, "code": code, "answer": answer})
}

// APIWhatsApp is the WhatsApp page: the numbers' status and what to paste
// into Meta's App Dashboard. The verify token is for admins; the access
// token is never known here, only whether it is set.
func (s *API) APIWhatsApp(c *gin.Context) {
	type setup struct {
		WebhookURL    string `json:"webhook_url"`
		VerifyToken   string `json:"verify_token,omitempty"`
		PhoneNumberID string `json:"phone_number_id"`
		BusinessID    string `json:"business_id"`
		APIVersion    string `json:"api_version"`
		TokenSet      bool   `json:"token_set"`
	}
	out := struct {
		Configured bool                 `json:"configured"`
		Setup      *setup               `json:"setup,omitempty"`
		Numbers    []app.WhatsAppStatus `json:"numbers"`
	}{Numbers: []app.WhatsAppStatus{}}
	if s.D.Status != nil {
		out.Numbers = app.NonNil(s.D.Status.Status(c.Request.Context()).WhatsApp)
	}
	if wa := s.D.WhatsApp; wa != nil {
		out.Configured = true
		out.Setup = &setup{WebhookURL: app.WebhookURL(c, wa.WebhookPath), PhoneNumberID: wa.PhoneNumberID,
			BusinessID: wa.BusinessID, APIVersion: wa.APIVersion, TokenSet: wa.TokenSet}
		if app.CurrentUser(c).Role == users.RoleAdmin {
			out.Setup.VerifyToken = wa.VerifyToken
		}
	}
	c.JSON(http.StatusOK, out)
}

// TemplateJSON is one synchronised WhatsApp template.
type TemplateJSON struct {
	Name      string   `json:"name"`
	Language  string   `json:"language"`
	Status    string   `json:"status"`
	Category  string   `json:"category"`
	Header    string   `json:"header,omitempty"`
	Variables []string `json:"variables"`
	Body      string   `json:"body"`
}

func templatesToJSON(list []campaign.TemplateInfo) []TemplateJSON {
	out := make([]TemplateJSON, 0, len(list))
	for _, t := range list {
		out = append(out, TemplateJSON{Name: t.Name, Language: t.Language, Status: t.Status, Category: t.Category,
			Header: t.Header, Variables: app.NonNil(t.Variables), Body: t.Body})
	}
	return out
}

// apiTemplateList answers the templates (false: it answered an error).
func (s *API) apiTemplateList(c *gin.Context) ([]TemplateJSON, bool) {
	if !apiHas(c, s.D.Templates != nil, "WhatsApp templates are") {
		return nil, false
	}
	list, err := s.D.Templates.ListTemplates(c.Request.Context())
	if err != nil {
		s.Log.Error("api: WhatsApp templates", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "listing the WhatsApp templates failed; see the pbxgate log", "")
		return nil, false
	}
	return templatesToJSON(list), true
}

func (s *API) APITemplates(c *gin.Context) {
	if list, ok := s.apiTemplateList(c); ok {
		app.APIPage(c, list)
	}
}

// APISyncTemplates fetches the templates from Meta now and answers the
// first page of the new list.
func (s *API) APISyncTemplates(c *gin.Context) {
	if !apiHas(c, s.D.SyncTemplates != nil, "WhatsApp template sync is") {
		return
	}
	if err := s.RunTemplateSync(c); err != nil {
		app.APIError(c, http.StatusBadGateway, "sync_failed", "fetching the templates from Meta failed: "+err.Error(), "")
		return
	}
	s.APITemplates(c)
}

// apiClickLink reads ?kind=whatsapp|sms&number=&text= into a link; false:
// it answered.
func (s *API) apiClickLink(c *gin.Context) (kind, link, e164 string, ok bool) {
	kind, number := c.DefaultQuery("kind", "whatsapp"), strings.TrimSpace(c.Query("number"))
	if kind != "whatsapp" && kind != "sms" {
		app.APIError(c, http.StatusBadRequest, "invalid", "kind must be whatsapp or sms", "kind")
		return "", "", "", false
	}
	if number == "" {
		app.APIError(c, http.StatusBadRequest, "required", "give the number to chat with", "number")
		return "", "", "", false
	}
	link, e164, err := s.MakeClickToChat(kind, number, c.Query("text"))
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		s.APIProblem(c, p)
		return "", "", "", false
	}
	return kind, link, e164, true
}

func (s *API) APIClickToChat(c *gin.Context) {
	if kind, link, e164, ok := s.apiClickLink(c); ok {
		c.JSON(http.StatusOK, gin.H{"kind": kind, "number": e164, "link": link})
	}
}

func (s *API) APIClickToChatPNG(c *gin.Context) {
	_, link, _, ok := s.apiClickLink(c)
	if !ok {
		return
	}
	png, err := clicktochat.PNG(link, clicktochat.Medium, 1024)
	if err != nil {
		s.Log.Error("api: click-to-chat QR", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "the QR code cannot be made; see the pbxgate log", "")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="click-to-chat.png"`)
	c.Data(http.StatusOK, "image/png", png)
}
