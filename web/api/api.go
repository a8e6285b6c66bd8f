package api

import (
	_ "embed"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/users"
)

//go:embed openapi.json
var OpenAPIDoc []byte

func APIOpenAPI(c *gin.Context) { c.Data(http.StatusOK, "application/json", OpenAPIDoc) }

func APIMe(c *gin.Context) { c.JSON(http.StatusOK, app.CurrentUser(c)) }

func (s *API) APIVersion(c *gin.Context) {
	v := s.D.Version
	c.JSON(http.StatusOK, gin.H{"version": v.Version, "commit": v.Commit, "build_date": v.BuildDate, "go_version": v.GoVersion, "platform": v.Platform})
}

func (s *API) APIUsers(c *gin.Context) {
	list, err := s.D.Users.List(c.Request.Context())
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "listing users failed", "")
		return
	}
	c.JSON(http.StatusOK, app.Page[users.User]{Items: list, Total: len(list), Limit: len(list)})
}

// apiHas answers 503 when a part of the gateway is not in this
// installation (e.g. no PBX configured); what names it ("sessions are").
func apiHas(c *gin.Context, present bool, what string) bool {
	if !present {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", what+" not available in this installation", "")
	}
	return present
}

func (s *API) APIStatus(c *gin.Context) {
	if s.D.Status == nil {
		app.APIError(c, http.StatusServiceUnavailable, "unavailable", "channel status is not available in this build", "")
		return
	}
	c.JSON(http.StatusOK, s.D.Status.Status(c.Request.Context()))
}

func (s *API) apiCampaignsReady(c *gin.Context) bool {
	return apiHas(c, s.D.Campaigns != nil, "campaigns are")
}

func (s *API) APICampaigns(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	state, ok := app.ParseState(c.Query("state"))
	if !ok {
		app.APIError(c, http.StatusBadRequest, "invalid", "state must be one of draft, scheduled, pending, running, completed, stopped, retrying", "state")
		return
	}
	offset, limit, ok := app.Pagination(c)
	if !ok {
		return
	}
	archived := c.Query("archived")
	if archived != "" && archived != "true" && archived != "false" {
		app.APIError(c, http.StatusBadRequest, "invalid", "archived must be true or false", "archived")
		return
	}
	items, total, err := s.D.Campaigns.ListCampaigns(c.Request.Context(), app.CampaignQuery{State: state, Search: c.Query("q"), Archived: archived == "true", Offset: offset, Limit: limit})
	if err != nil {
		s.Log.Error("api: list campaigns", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "listing campaigns failed; see the pbxgate log", "")
		return
	}
	if items == nil {
		items = []app.CampaignSummary{}
	}
	c.JSON(http.StatusOK, app.Page[app.CampaignSummary]{Items: items, Total: total, Offset: offset, Limit: limit})
}

func (s *API) apiCampaignErr(c *gin.Context, err error) {
	var fe *app.FieldError
	switch {
	case errors.Is(err, app.ErrRecipientNotFound):
		app.APIError(c, http.StatusNotFound, "not_found", "the campaign has no recipient with this number", "number")
	case errors.Is(err, app.ErrCampaignNotFound):
		app.APIError(c, http.StatusNotFound, "not_found", "no campaign with this id", "")
	case errors.Is(err, app.ErrCampaignState):
		app.APIError(c, http.StatusConflict, "state", err.Error(), "")
	case errors.As(err, &fe):
		app.APIError(c, http.StatusUnprocessableEntity, app.CmpOr(fe.Code, "invalid"), fe.Message, fe.Field)
	default:
		s.Log.Error("api: campaign", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "campaign operation failed; see the pbxgate log", "")
	}
}

func (s *API) APICampaign(c *gin.Context) {
	s.apiOnCampaign(c, func(cd app.CampaignDetail) { c.JSON(http.StatusOK, cd) })
}

// apiOnCampaign runs fn with the path's campaign, or answers why not.
func (s *API) apiOnCampaign(c *gin.Context, fn func(app.CampaignDetail)) {
	if !s.apiCampaignsReady(c) {
		return
	}
	cd, err := s.D.Campaigns.Campaign(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	s.AddClicks(c.Request.Context(), &cd)
	fn(cd)
}

func (s *API) APIRecipients(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	state := c.Query("state")
	if !app.ValidRecipientState(state) {
		app.APIError(c, http.StatusBadRequest, "invalid", "state must be one of "+strings.Join(app.RecipientStates, ", "), "state")
		return
	}
	offset, limit, ok := app.Pagination(c)
	if !ok {
		return
	}
	items, total, err := s.SearchRecipients(c.Request.Context(), c.Param("id"),
		app.RecipientQuery{State: state, Number: c.Query("number"), Reason: c.Query("reason"), Offset: offset, Limit: limit})
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	if items == nil {
		items = []app.RecipientResult{}
	}
	c.JSON(http.StatusOK, app.Page[app.RecipientResult]{Items: items, Total: total, Offset: offset, Limit: limit})
}

func (s *API) APICampaignAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.apiCampaignsReady(c) {
			return
		}
		id, err := s.DoCampaignAction(c, action, c.Param("id"))
		if err != nil {
			s.apiCampaignErr(c, err)
			return
		}
		cd, err := s.D.Campaigns.Campaign(c.Request.Context(), id)
		if err != nil {
			s.apiCampaignErr(c, err)
			return
		}
		code := http.StatusOK
		if action == "duplicate" {
			code = http.StatusCreated
		}
		c.JSON(code, cd)
	}
}

// APIDeleteCampaign is DELETE /api/v1/campaigns/{id}: a sending campaign
// is stopped first (what the channel has not started is withdrawn).
func (s *API) APIDeleteCampaign(c *gin.Context) {
	if !campaignOp(s, c, "delete campaigns", func(d app.CampaignDeleter) error { return d.DeleteCampaign(c.Request.Context(), c.Param("id")) }) {
		return
	}
	s.Log.Info("campaign deleted", "id", c.Param("id"), "user", app.CurrentUser(c).Name)
	c.Status(http.StatusNoContent)
}

// apiCampaignRequest is POST /api/v1/campaigns.
type apiCampaignRequest struct {
	Name          string                    `json:"name"`
	Channel       string                    `json:"channel"`
	Sender        string                    `json:"sender"`
	Numbers       []string                  `json:"numbers"`
	Text          string                    `json:"text"`
	WhatsApp      *campaign.WhatsAppContent `json:"whatsapp"`
	Mode          string                    `json:"mode"`
	Target        campaign.Target           `json:"target"`
	Send          app.SendMode              `json:"send"`
	ScheduleAt    time.Time                 `json:"schedule_at"`
	RatePerMinute int                       `json:"rate_per_minute"`
	DNCLists      []string                  `json:"dnc_lists"`
	// The campaign form's other recipient sources (web/api_campaign_sources.go).
	CSV          string                  `json:"csv"` // CSV text; multipart: the "file" part
	PhoneColumns []string                `json:"phone_columns"`
	Phonebook    string                  `json:"phonebook"`
	NumberType   []recipients.NumberType `json:"number_type"`
	Group        string                  `json:"group"`
	SkipInvalid  bool                    `json:"skip_invalid"`
	// List takes the recipients from a contact list (api_contact_lists.go).
	List *campaign.ListSource `json:"list"`
	// Short links and the SMS fallback of a WhatsApp campaign (app/reach.go).
	ShortenLinks bool               `json:"shorten_links"`
	Fallback     *campaign.Fallback `json:"fallback"`
	// Media makes an SMS campaign an MMS campaign (api_campaign_media.go).
	Media *apiMediaFile `json:"media"`
}

func (s *API) APICreateCampaign(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	in, skipped, ok := s.apiCampaignInput(c, false)
	if !ok {
		return
	}
	id, err := s.D.Campaigns.CreateCampaign(c.Request.Context(), in)
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	s.apiCampaignAnswer(c, http.StatusCreated, id, skipped)
}

// apiCampaignAnswer answers with campaign id as GET /campaigns/{id} would,
// plus the recipients skip_invalid left out.
func (s *API) apiCampaignAnswer(c *gin.Context, code int, id string, skipped []recipients.FieldProblem) {
	cd, err := s.D.Campaigns.Campaign(c.Request.Context(), id)
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	c.JSON(code, struct {
		app.CampaignDetail
		Skipped []recipients.FieldProblem `json:"skipped"`
	}{cd, app.NonNil(skipped)})
}

// apiCampaignInput reads and validates a campaign body (POST, or PUT of a
// draft, where no recipients keep the old ones) and returns it with the
// recipients skip_invalid left out; false: it answered.
func (s *API) apiCampaignInput(c *gin.Context, edit bool) (app.CampaignInput, []recipients.FieldProblem, bool) {
	ctx := c.Request.Context()
	req, csvFile, csvField, ok := s.readAPICampaignRequest(c)
	if !ok {
		return app.CampaignInput{}, nil, false
	}
	fail := func(field, msg string) (app.CampaignInput, []recipients.FieldProblem, bool) {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", msg, field)
		return app.CampaignInput{}, nil, false
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len([]rune(req.Name)) > app.MaxNameLen {
		return fail("name", "name is required (at most 100 characters)")
	}
	senders, err := s.D.Campaigns.Senders(ctx)
	if err != nil {
		s.apiCampaignErr(c, err)
		return app.CampaignInput{}, nil, false
	}
	found, chatIDs, idKind := false, false, message.Kind("")
	for _, sd := range senders {
		if sd.Channel == req.Channel && sd.ID == req.Sender {
			k := message.Kind(sd.Kind)
			found, chatIDs = true, k.ByID()
			if k == message.Viber || k == message.VK {
				idKind = k // Viber and VK subscribers by id
			}
		}
	}
	if !found {
		return fail("sender", "unknown channel/sender; GET /api/v1/status lists the channels")
	}
	for _, t := range req.NumberType {
		if !slices.Contains(recipients.CampaignNumberTypes(), t) {
			return fail("number_type", "number_type must list mobile, work, home or other")
		}
	}
	rs, probs := s.GatherRecipients(ctx, recipients.Sources{Numbers: strings.Join(req.Numbers, "\n"), CSV: csvFile, PhoneColumns: req.PhoneColumns,
		Phonebook: req.Phonebook, NumberTypes: req.NumberType, Group: req.Group, SkipInvalid: req.SkipInvalid, Edit: edit,
		List: req.List != nil, ChatIDs: chatIDs, IDKind: idKind})
	if !s.apiListProblem(c, req.List) {
		return app.CampaignInput{}, nil, false
	}
	if !s.apiRecipientsAccepted(c, rs, probs, csvField) {
		return app.CampaignInput{}, nil, false
	}
	media, ok := s.apiCampaignMedia(c, &req)
	if !ok {
		return app.CampaignInput{}, nil, false
	}
	if req.WhatsApp == nil && media == nil {
		if strings.TrimSpace(req.Text) == "" {
			return fail("text", "text is required (or whatsapp for a WhatsApp template campaign)")
		}
		if _, err := sms.PlanText(req.Text); err != nil && idKind == "" { // Viber/VK: the channel's own limit
			return fail("text", err.Error())
		}
	}
	switch req.Mode {
	case "", string(campaign.Direct), string(campaign.Session):
	default:
		return fail("mode", "mode must be direct or session")
	}
	switch req.Send {
	case "":
		req.Send = app.SendDraft
	case app.SendNow, app.SendDraft:
	case app.SendSchedule:
		if !req.ScheduleAt.After(s.D.Now()) {
			return fail("schedule_at", "schedule_at must be an RFC 3339 time in the future")
		}
	default:
		return fail("send", "send must be now, schedule or draft")
	}
	if req.RatePerMinute < 0 || req.RatePerMinute > 1000 {
		return fail("rate_per_minute", "rate_per_minute must be between 1 and 1000, or 0 for the channel's maximum")
	}
	return app.CampaignInput{
		Name: req.Name, Channel: req.Channel, Sender: req.Sender, Recipients: rs.Valid, Text: req.Text,
		WhatsApp: req.WhatsApp, Mode: req.Mode, Target: req.Target,
		Send: req.Send, ScheduleAt: req.ScheduleAt.In(s.Location()), RatePerMinute: req.RatePerMinute, DNCLists: req.DNCLists,
		CreatedBy: app.CurrentUser(c).Name, List: req.List, ShortenLinks: req.ShortenLinks, Fallback: req.Fallback, Media: media,
	}, skippedAs(rs.Skipped(), csvField), true
}

func (s *API) APIAddUser(c *gin.Context) {
	var req struct {
		Name     string     `json:"name"`
		Password string     `json:"password"`
		Role     users.Role `json:"role"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		app.APIError(c, http.StatusBadRequest, "bad_json", "request body is not valid JSON: "+err.Error(), "")
		return
	}
	err := s.D.Users.Add(c.Request.Context(), req.Name, req.Password, req.Role)
	switch {
	case errors.Is(err, users.ErrExists):
		app.APIError(c, http.StatusConflict, "exists", err.Error(), "name")
	case errors.Is(err, users.ErrInvalidName):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "name")
	case errors.Is(err, users.ErrWeakPassword):
		app.APIError(c, http.StatusUnprocessableEntity, "weak_password", err.Error(), "password")
	case errors.Is(err, users.ErrInvalidRole):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "role")
	case err != nil:
		app.APIError(c, http.StatusInternalServerError, "internal", "adding the user failed; see the pbxgate log", "")
	default:
		s.Audit(c, "user.add", req.Name+" ("+string(req.Role)+")")
		u, _ := s.D.Users.Get(c.Request.Context(), req.Name)
		c.JSON(http.StatusCreated, u)
	}
}
