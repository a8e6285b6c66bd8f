package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

func (s *server) apiGroupsReady(c *gin.Context) bool {
	return apiHas(c, s.d.Consent != nil, "subscriber groups are")
}

// apiGroupErr answers a consent error of group operations.
func (s *server) apiGroupErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, consent.ErrNoGroup):
		apiError(c, http.StatusNotFound, "not_found", "no subscriber group with this name", "")
	case errors.Is(err, consent.ErrInvalidGroup):
		apiError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "name")
	default:
		s.log.Error("api: subscriber group", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "subscriber group operation failed; see the pbxgate log", "")
	}
}

// groupSummary finds one group's list entry.
func (s *server) groupSummary(c *gin.Context, name string) (consent.GroupSummary, error) {
	sums, err := s.d.Consent.GroupSummaries(c.Request.Context())
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

func (s *server) apiGroups(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	sums, err := s.d.Consent.GroupSummaries(c.Request.Context())
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	apiPage(c, sums)
}

func (s *server) apiCreateGroup(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if err := c.ShouldBindJSON(&req); err != nil {
		if bodyTooLarge(c, err) {
			return
		}
		apiError(c, http.StatusBadRequest, "bad_json", "request body is not valid JSON for a group: "+err.Error(), "")
		return
	}
	ctx := c.Request.Context()
	name, desc := strings.TrimSpace(req.Name), strings.TrimSpace(req.Description)
	if code, msg := checkGroupName(name); code != "" {
		apiError(c, http.StatusUnprocessableEntity, "invalid", msg, "name")
		return
	}
	if len([]rune(desc)) > maxGroupDescLen {
		apiError(c, http.StatusUnprocessableEntity, "invalid", "description is longer than 200 characters", "description")
		return
	}
	exists, err := s.d.Consent.HasGroup(ctx, name)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	if exists {
		apiError(c, http.StatusConflict, "exists", "a subscriber group with this name exists already", "name")
		return
	}
	g, err := s.d.Consent.CreateGroup(ctx, name, desc)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	s.audit(c, "group.create", name)
	c.JSON(http.StatusCreated, consent.GroupSummary{Group: g})
}

// apiGroupDetail is GET /groups/{name}: the group and a page of members.
type apiGroupDetail struct {
	Group   consent.GroupSummary `json:"group"`
	Members page[consent.Member] `json:"members"`
}

func (s *server) apiGroup(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	offset, limit, ok := pagination(c)
	if !ok {
		return
	}
	name := c.Param("name")
	ms, err := s.d.Consent.Members(c.Request.Context(), name)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	g, err := s.groupSummary(c, name)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	c.JSON(http.StatusOK, apiGroupDetail{Group: g, Members: pageOf(ms, offset, limit)})
}

func (s *server) apiDeleteGroup(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	name := c.Param("name")
	if err := s.d.Consent.DeleteGroup(c.Request.Context(), name); err != nil {
		s.apiGroupErr(c, err)
		return
	}
	s.audit(c, "group.delete", name)
	c.Status(http.StatusNoContent)
}

// apiMembersAdded is the answer of POST /groups/{name}/members.
type apiMembersAdded struct {
	Added   []string             `json:"added"`   // E.164
	Already []string             `json:"already"` // were members before
	Invalid []recipients.Problem `json:"invalid"` // not added, with why
}

// apiAddGroupMembers adds numbers the way the portal's form does: every
// valid one is added, the invalid ones are named in the answer. Only when
// none is valid is it an error.
func (s *server) apiAddGroupMembers(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	var req struct {
		Numbers []string `json:"numbers"`
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	if err := c.ShouldBindJSON(&req); err != nil {
		if bodyTooLarge(c, err) {
			return
		}
		apiError(c, http.StatusBadRequest, "bad_json", "request body is not valid JSON: give {\"numbers\": [\"+49…\", …]}: "+err.Error(), "")
		return
	}
	ctx := c.Request.Context()
	name := c.Param("name")
	if ok, err := s.d.Consent.HasGroup(ctx, name); err != nil || !ok {
		s.apiGroupErr(c, cmpErr(err, consent.ErrNoGroup))
		return
	}
	res, err := recipients.ParsePaste(strings.Join(req.Numbers, "\n"), s.defaultCountry(), 0)
	if errors.Is(err, recipients.ErrTooMany) {
		apiError(c, http.StatusUnprocessableEntity, "too_many", "at most 1000 different numbers per request", "numbers")
		return
	}
	if len(res.Valid) == 0 {
		if len(res.Invalid) == 0 {
			apiError(c, http.StatusUnprocessableEntity, "invalid", "give at least one number", "numbers")
			return
		}
		msgs := make([]string, 0, len(res.Invalid))
		for _, p := range res.Invalid {
			msgs = append(msgs, p.Reason)
		}
		apiError(c, http.StatusUnprocessableEntity, "invalid_number", "no valid number: "+strings.Join(msgs, "; "), "numbers")
		return
	}
	added, already, err := s.joinGroup(c, name, res.Valid)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	c.JSON(http.StatusOK, apiMembersAdded{Added: nonNil(added), Already: nonNil(already), Invalid: nonNil(res.Invalid)})
}

// cmpErr is err, or fallback when err is nil.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

func (s *server) apiRemoveGroupMember(c *gin.Context) {
	if !s.apiGroupsReady(c) {
		return
	}
	ctx := c.Request.Context()
	name, number := c.Param("name"), c.Param("number")
	in, err := s.d.Consent.IsMember(ctx, name, number)
	if err != nil {
		s.apiGroupErr(c, err)
		return
	}
	if !in {
		apiError(c, http.StatusNotFound, "not_member", "this number is not in the group", "number")
		return
	}
	if err := s.d.Consent.Leave(ctx, name, number); err != nil {
		s.apiGroupErr(c, err)
		return
	}
	s.audit(c, "group.member_remove", name+": "+number)
	c.Status(http.StatusNoContent)
}
