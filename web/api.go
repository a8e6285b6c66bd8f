package web

import (
	_ "embed"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/users"
)

//go:embed openapi.json
var openAPIDoc []byte

const maxAPILimit = 500

// page is the envelope of every list answer.
type page[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

func apiOpenAPI(c *gin.Context) { c.Data(http.StatusOK, "application/json", openAPIDoc) }

func apiMe(c *gin.Context) { c.JSON(http.StatusOK, currentUser(c)) }

func (s *server) apiVersion(c *gin.Context) {
	v := s.d.Version
	c.JSON(http.StatusOK, gin.H{"version": v.Version, "commit": v.Commit, "build_date": v.BuildDate, "go_version": v.GoVersion, "platform": v.Platform})
}

func (s *server) apiUsers(c *gin.Context) {
	list, err := s.d.Users.List(c.Request.Context())
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "listing users failed", "")
		return
	}
	c.JSON(http.StatusOK, page[users.User]{Items: list, Total: len(list), Limit: len(list)})
}

// apiHas answers 503 when a part of the gateway is not in this
// installation (e.g. no PBX configured); what names it ("sessions are").
func apiHas(c *gin.Context, present bool, what string) bool {
	if !present {
		apiError(c, http.StatusServiceUnavailable, "unavailable", what+" not available in this installation", "")
	}
	return present
}

func pagination(c *gin.Context) (offset, limit int, ok bool) {
	offset, limit = 0, 50
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			apiError(c, http.StatusBadRequest, "invalid", "offset must be a number >= 0", "offset")
			return 0, 0, false
		}
		offset = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAPILimit {
			apiError(c, http.StatusBadRequest, "invalid", "limit must be between 1 and 500", "limit")
			return 0, 0, false
		}
		limit = n
	}
	return offset, limit, true
}

func (s *server) apiStatus(c *gin.Context) {
	if s.d.Status == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "channel status is not available in this build", "")
		return
	}
	c.JSON(http.StatusOK, s.d.Status.Status(c.Request.Context()))
}

func (s *server) apiCampaignsReady(c *gin.Context) bool {
	return apiHas(c, s.d.Campaigns != nil, "campaigns are")
}

func (s *server) apiCampaigns(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	state, ok := parseState(c.Query("state"))
	if !ok {
		apiError(c, http.StatusBadRequest, "invalid", "state must be one of draft, scheduled, pending, running, completed, stopped, retrying", "state")
		return
	}
	offset, limit, ok := pagination(c)
	if !ok {
		return
	}
	items, total, err := s.d.Campaigns.ListCampaigns(c.Request.Context(), CampaignQuery{State: state, Search: c.Query("q"), Offset: offset, Limit: limit})
	if err != nil {
		s.log.Error("api: list campaigns", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "listing campaigns failed; see the pbxgate log", "")
		return
	}
	if items == nil {
		items = []CampaignSummary{}
	}
	c.JSON(http.StatusOK, page[CampaignSummary]{Items: items, Total: total, Offset: offset, Limit: limit})
}

func (s *server) apiCampaignErr(c *gin.Context, err error) {
	var fe *FieldError
	switch {
	case errors.Is(err, ErrCampaignNotFound):
		apiError(c, http.StatusNotFound, "not_found", "no campaign with this id", "")
	case errors.Is(err, ErrCampaignState):
		apiError(c, http.StatusConflict, "state", err.Error(), "")
	case errors.As(err, &fe):
		apiError(c, http.StatusUnprocessableEntity, cmpOr(fe.Code, "invalid"), fe.Message, fe.Field)
	default:
		s.log.Error("api: campaign", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "campaign operation failed; see the pbxgate log", "")
	}
}

func (s *server) apiCampaign(c *gin.Context) {
	s.apiOnCampaign(c, func(cd CampaignDetail) { c.JSON(http.StatusOK, cd) })
}

// apiOnCampaign runs fn with the path's campaign, or answers why not.
func (s *server) apiOnCampaign(c *gin.Context, fn func(CampaignDetail)) {
	if !s.apiCampaignsReady(c) {
		return
	}
	cd, err := s.d.Campaigns.Campaign(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	fn(cd)
}

func (s *server) apiRecipients(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	offset, limit, ok := pagination(c)
	if !ok {
		return
	}
	items, total, err := s.d.Campaigns.CampaignRecipients(c.Request.Context(), c.Param("id"), offset, limit)
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	if items == nil {
		items = []RecipientResult{}
	}
	c.JSON(http.StatusOK, page[RecipientResult]{Items: items, Total: total, Offset: offset, Limit: limit})
}

func (s *server) apiCampaignAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.apiCampaignsReady(c) {
			return
		}
		id, err := s.doCampaignAction(c, action, c.Param("id"))
		if err != nil {
			s.apiCampaignErr(c, err)
			return
		}
		cd, err := s.d.Campaigns.Campaign(c.Request.Context(), id)
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

// apiDeleteCampaign is DELETE /api/v1/campaigns/{id}: a sending campaign
// is stopped first (what the channel has not started is withdrawn).
func (s *server) apiDeleteCampaign(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	del, ok := s.d.Campaigns.(CampaignDeleter)
	if !ok {
		apiError(c, http.StatusNotImplemented, "unavailable", "this campaign service cannot delete campaigns", "")
		return
	}
	if err := del.DeleteCampaign(c.Request.Context(), c.Param("id")); err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	s.log.Info("campaign deleted", "id", c.Param("id"), "user", currentUser(c).Name)
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
	Send          SendMode                  `json:"send"`
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
}

func (s *server) apiCreateCampaign(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	in, skipped, ok := s.apiCampaignInput(c, false)
	if !ok {
		return
	}
	id, err := s.d.Campaigns.CreateCampaign(c.Request.Context(), in)
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	s.apiCampaignAnswer(c, http.StatusCreated, id, skipped)
}

// apiCampaignAnswer answers with campaign id as GET /campaigns/{id} would,
// plus the recipients skip_invalid left out.
func (s *server) apiCampaignAnswer(c *gin.Context, code int, id string, skipped []recipients.FieldProblem) {
	cd, err := s.d.Campaigns.Campaign(c.Request.Context(), id)
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	c.JSON(code, struct {
		CampaignDetail
		Skipped []recipients.FieldProblem `json:"skipped"`
	}{cd, nonNil(skipped)})
}

// apiCampaignInput reads and validates a campaign body (POST, or PUT of a
// draft, where no recipients keep the old ones) and returns it with the
// recipients skip_invalid left out; false: it answered.
func (s *server) apiCampaignInput(c *gin.Context, edit bool) (CampaignInput, []recipients.FieldProblem, bool) {
	ctx := c.Request.Context()
	req, csvFile, csvField, ok := s.readAPICampaignRequest(c)
	if !ok {
		return CampaignInput{}, nil, false
	}
	fail := func(field, msg string) (CampaignInput, []recipients.FieldProblem, bool) {
		apiError(c, http.StatusUnprocessableEntity, "invalid", msg, field)
		return CampaignInput{}, nil, false
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len([]rune(req.Name)) > maxNameLen {
		return fail("name", "name is required (at most 100 characters)")
	}
	senders, err := s.d.Campaigns.Senders(ctx)
	if err != nil {
		s.apiCampaignErr(c, err)
		return CampaignInput{}, nil, false
	}
	found := false
	for _, sd := range senders {
		found = found || (sd.Channel == req.Channel && sd.ID == req.Sender)
	}
	if !found {
		return fail("sender", "unknown channel/sender; GET /api/v1/status lists the channels")
	}
	for _, t := range req.NumberType {
		if !slices.Contains(recipients.CampaignNumberTypes(), t) {
			return fail("number_type", "number_type must list mobile, work, home or other")
		}
	}
	rs, probs := s.gatherRecipients(ctx, recipients.Sources{Numbers: strings.Join(req.Numbers, "\n"), CSV: csvFile, PhoneColumns: req.PhoneColumns,
		Phonebook: req.Phonebook, NumberTypes: req.NumberType, Group: req.Group, SkipInvalid: req.SkipInvalid, Edit: edit})
	if !s.apiRecipientsAccepted(c, rs, probs, csvField) {
		return CampaignInput{}, nil, false
	}
	if req.WhatsApp == nil {
		if strings.TrimSpace(req.Text) == "" {
			return fail("text", "text is required (or whatsapp for a WhatsApp template campaign)")
		}
		if _, err := sms.PlanText(req.Text); err != nil {
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
		req.Send = SendDraft
	case SendNow, SendDraft:
	case SendSchedule:
		if !req.ScheduleAt.After(s.d.Now()) {
			return fail("schedule_at", "schedule_at must be an RFC 3339 time in the future")
		}
	default:
		return fail("send", "send must be now, schedule or draft")
	}
	if req.RatePerMinute < 0 || req.RatePerMinute > 1000 {
		return fail("rate_per_minute", "rate_per_minute must be between 1 and 1000, or 0 for the channel's maximum")
	}
	return CampaignInput{
		Name: req.Name, Channel: req.Channel, Sender: req.Sender, Recipients: rs.Valid, Text: req.Text,
		WhatsApp: req.WhatsApp, Mode: req.Mode, Target: req.Target,
		Send: req.Send, ScheduleAt: req.ScheduleAt.In(s.location()), RatePerMinute: req.RatePerMinute, DNCLists: req.DNCLists,
		CreatedBy: currentUser(c).Name,
	}, skippedAs(rs.Skipped(), csvField), true
}

func (s *server) apiAddUser(c *gin.Context) {
	var req struct {
		Name     string     `json:"name"`
		Password string     `json:"password"`
		Role     users.Role `json:"role"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		apiError(c, http.StatusBadRequest, "bad_json", "request body is not valid JSON: "+err.Error(), "")
		return
	}
	err := s.d.Users.Add(c.Request.Context(), req.Name, req.Password, req.Role)
	switch {
	case errors.Is(err, users.ErrExists):
		apiError(c, http.StatusConflict, "exists", err.Error(), "name")
	case errors.Is(err, users.ErrInvalidName):
		apiError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "name")
	case errors.Is(err, users.ErrWeakPassword):
		apiError(c, http.StatusUnprocessableEntity, "weak_password", err.Error(), "password")
	case errors.Is(err, users.ErrInvalidRole):
		apiError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "role")
	case err != nil:
		apiError(c, http.StatusInternalServerError, "internal", "adding the user failed; see the pbxgate log", "")
	default:
		s.audit(c, "user.add", req.Name+" ("+string(req.Role)+")")
		u, _ := s.d.Users.Get(c.Request.Context(), req.Name)
		c.JSON(http.StatusCreated, u)
	}
}
