package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

func (s *API) apiGroupsReady(c *gin.Context) bool {
	return apiHas(c, s.D.Consent != nil, "subscriber groups are")
}

// apiGroupErr answers a consent error of group operations.
func (s *API) apiGroupErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, consent.ErrNoGroup):
		app.APIError(c, http.StatusNotFound, "not_found", "no subscriber group with this name", "")
	case errors.Is(err, consent.ErrInvalidGroup):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "name")
	default:
		s.Log.Error("api: subscriber group", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "subscriber group operation failed; see the pbxgate log", "")
	}
}

// groupSummary finds one group's list entry.
func (s *API) groupSummary(c *gin.Context, name string) (consent.GroupSummary, error) {
	sums, err := s.D.Consent.GroupSummaries(c.Request.Context())
	if err != nil {
		return consent.GroupSummary{}, err
	}
	for _, g := range sums {
		if g.Name == name {
			return g, nil
		}
	}
	return consent.GroupSummary{}, consent.ErrNoGroup
}

func (s *API) APIGroups(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	sums, err := s.D.Consent.GroupSummaries(c.Request.Context())
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	app.APIPage(c, sums)
}

func (s *API) APICreateGroup(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if err := c.ShouldBindJSON(&req); err != nil {
		if app.BodyTooLarge(c, err) {
			return
		}
		app.APIError(c, http.StatusBadRequest, "bad_json", "request body is not valid JSON for a group: "+err.Error(), "")
		return
	}
	ctx := c.Request.Context()
	name, desc := strings.TrimSpace(req.Name), strings.TrimSpace(req.Description)
	if code, msg := app.CheckGroupName(name); code != "" {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", msg, "name")
		return
	}
	if len([]rune(desc)) > app.MaxGroupDescLen {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "description is longer than 200 characters", "description")
		return
	}
	exists, err := s.D.Consent.HasGroup(ctx, name)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	if exists {
		app.APIError(c, http.StatusConflict, "exists", "a subscriber group with this name exists already", "name")
		return
	}
	g, err := s.D.Consent.CreateGroup(ctx, name, desc)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	s.Audit(c, "group.create", name)
	c.JSON(http.StatusCreated, consent.GroupSummary{Group: g})
}

// APIGroupDetail is GET /groups/{name}: the group and a page of members.
type APIGroupDetail struct {
	Group   consent.GroupSummary     `json:"group"`
	Members app.Page[consent.Member] `json:"members"`
}

func (s *API) APIGroup(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	offset, limit, ok := app.Pagination(c)
	if !ok {
		return
	}
	name := c.Param("name")
	ms, err := s.D.Consent.Members(c.Request.Context(), name)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	g, err := s.groupSummary(c, name)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	c.JSON(http.StatusOK, APIGroupDetail{Group: g, Members: app.PageOf(ms, offset, limit)})
}

func (s *API) APIDeleteGroup(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	name := c.Param("name")
	if err := s.D.Consent.DeleteGroup(c.Request.Context(), name); err != nil {
		s.apiGroupErr(c, err)
		return
	}
	s.Audit(c, "group.delete", name)
	c.Status(http.StatusNoContent)
}

// APIMembersAdded is the answer of POST /groups/{name}/members.
type APIMembersAdded struct {
	Added   []string             `json:"added"`   // E.164
	Already []string             `json:"already"` // were members before
	Invalid []recipients.Problem `json:"invalid"` // not added, with why
}

// APIAddGroupMembers adds numbers the way the portal's form does: every
// valid one is added, the invalid ones are named in the answer. Only when
// none is valid is it an error.
func (s *API) APIAddGroupMembers(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	var req struct {
		Numbers []string `json:"numbers"`
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	if err := c.ShouldBindJSON(&req); err != nil {
		if app.BodyTooLarge(c, err) {
			return
		}
		app.APIError(c, http.StatusBadRequest, "bad_json", "request body is not valid JSON: give {\"numbers\": [\"+49…\", …]}: "+err.Error(), "")
		return
	}
	ctx := c.Request.Context()
	name := c.Param("name")
	if ok, err := s.D.Consent.HasGroup(ctx, name); err != nil || !ok {
		s.apiGroupErr(c, cmpErr(err, consent.ErrNoGroup))
		return
	}
	res, err := recipients.ParsePaste(strings.Join(req.Numbers, "\n"), s.DefaultCountry(), 0)
	if errors.Is(err, recipients.ErrTooMany) {
		app.APIError(c, http.StatusUnprocessableEntity, "too_many", "at most 1000 different numbers per request", "numbers")
		return
	}
	if len(res.Valid) == 0 {
		if len(res.Invalid) == 0 {
			app.APIError(c, http.StatusUnprocessableEntity, "invalid", "give at least one number", "numbers")
			return
		}
		msgs := make([]string, 0, len(res.Invalid))
		for _, p := range res.Invalid {
			msgs = append(msgs, p.Reason)
		}
		app.APIError(c, http.StatusUnprocessableEntity, "invalid_number", "no valid number: "+strings.Join(msgs, "; "), "numbers")
		return
	}
	added, already, err := s.JoinGroup(c, name, res.Valid)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	c.JSON(http.StatusOK, APIMembersAdded{Added: app.NonNil(added), Already: app.NonNil(already), Invalid: app.NonNil(res.Invalid)})
}

// cmpErr is err, or fallback when err is nil.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

func (s *API) APIRemoveGroupMember(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	ctx := c.Request.Context()
	name, number := c.Param("name"), c.Param("number")
	in, err := s.D.Consent.IsMember(ctx, name, number)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	if !in {
		app.APIError(c, http.StatusNotFound, "not_member", "this number is not in the group", "number")
		return
	}
	if err := s.D.Consent.Leave(ctx, name, number); err != nil {
		s.apiGroupErr(c, err)
		return
	}
	s.Audit(c, "group.member_remove", name+": "+number)
	c.Status(http.StatusNoContent)
}
