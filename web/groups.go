package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// GroupService is what the subscriber group screens, their API and the
// campaign form's group source need; *consent.Consent implements it (it is
// part of ConsentService).
type GroupService interface {
	GroupSummaries(ctx context.Context) ([]consent.GroupSummary, error)
	HasGroup(ctx context.Context, name string) (bool, error)
	CreateGroup(ctx context.Context, name, description string) (consent.Group, error)
	DeleteGroup(ctx context.Context, name string) error
	// Members lists a group with the reason each excluded member is left
	// out of sends.
	Members(ctx context.Context, group string) ([]consent.Member, error)
	IsMember(ctx context.Context, group, number string) (bool, error)
	Join(ctx context.Context, group, number, source string) error
	Leave(ctx context.Context, group, number string) error
	// Recipients are the members a campaign may send to, and the others.
	Recipients(ctx context.Context, group string) ([]recipients.Recipient, []consent.Member, error)
}

const (
	memberPageSize    = 100
	maxGroupDescLen   = 200
	maxGroupNameRunes = 64
)

// groupRow is one group of the list with its link.
type groupRow struct {
	consent.GroupSummary
	Path string // /groups/<escaped name>
}

type groupsData struct {
	Groups []groupRow
}

// memberRow is one member with its source in the reader's language.
type memberRow struct {
	consent.Member
	SourceLabel string
}

type groupDetailData struct {
	Group   groupRow
	Members []memberRow
	Total   int
	Page    int
	Pages   int
	// Result of the last manual add.
	Added, Already int
	Shown          bool
}

func groupPath(name string) string { return "/groups/" + url.PathEscape(name) }

func (s *server) groupsUnavailable(c *gin.Context) bool {
	if s.d.Consent != nil {
		return false
	}
	s.render(c, http.StatusOK, "unavailable", s.newView(c, "groups", "nav.groups", "groups.unavailable"))
	return true
}

func (s *server) groupsView(c *gin.Context) (*view, error) {
	sums, err := s.d.Consent.GroupSummaries(c.Request.Context())
	if err != nil {
		return nil, err
	}
	d := &groupsData{}
	for _, g := range sums {
		d.Groups = append(d.Groups, groupRow{GroupSummary: g, Path: groupPath(g.Name)})
	}
	return s.newView(c, "groups", "nav.groups", d), nil
}

func (s *server) groupsPage(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	v, err := s.groupsView(c)
	if err != nil {
		s.log.Error("groups page", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "groups", v)
}

// checkGroupName is the portal's and the API's check before CreateGroup:
// a catalog key suffix ("groups.err.<code>") and the English text.
func checkGroupName(name string) (code, msg string) {
	switch {
	case name == "":
		return "name_required", "name is required"
	case len([]rune(name)) > maxGroupNameRunes:
		return "name_too_long", "name is longer than 64 characters"
	case strings.ContainsAny(name, "/\x00"):
		return "name_slash", "name must not contain '/'"
	}
	return "", ""
}

func (s *server) groupCreate(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	ctx := c.Request.Context()
	name := strings.TrimSpace(c.PostForm("name"))
	desc := strings.TrimSpace(c.PostForm("description"))
	v, err := s.groupsView(c)
	if err != nil {
		s.log.Error("groups page", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	v.Form["name"], v.Form["description"] = name, desc
	if code, _ := checkGroupName(name); code != "" {
		v.Errors["name"] = v.T("groups.err."+code, maxGroupNameRunes)
	} else if exists, err := s.d.Consent.HasGroup(ctx, name); err != nil {
		s.log.Error("group create", "err", err)
		v.Errors["name"] = v.T("error.internal")
	} else if exists {
		v.Errors["name"] = v.T("groups.err.exists")
	}
	if len([]rune(desc)) > maxGroupDescLen {
		v.Errors["description"] = v.T("groups.err.description", maxGroupDescLen)
	}
	if len(v.Errors) == 0 {
		_, err := s.d.Consent.CreateGroup(ctx, name, desc)
		switch {
		case errors.Is(err, consent.ErrInvalidGroup):
			v.Errors["name"] = v.T("groups.err.name_invalid", err.Error())
		case err != nil:
			s.log.Error("group create", "err", err)
			v.Errors["name"] = v.T("error.internal")
		default:
			s.audit(c, "group.create", name)
			s.flash(c, "groups.created_flash")
			c.Redirect(http.StatusSeeOther, groupPath(name))
			return
		}
	}
	s.render(c, http.StatusUnprocessableEntity, "groups", v)
}

// groupDetailView loads one group and a page of its members; ok is false
// when it has answered (404 or 500).
func (s *server) groupDetailView(c *gin.Context) (*view, bool) {
	ctx := c.Request.Context()
	name := c.Param("name")
	ms, err := s.d.Consent.Members(ctx, name)
	if errors.Is(err, consent.ErrNoGroup) {
		s.renderError(c, http.StatusNotFound, "groups.err.not_found")
		return nil, false
	}
	if err != nil {
		s.log.Error("group members", "group", name, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return nil, false
	}
	sums, err := s.d.Consent.GroupSummaries(ctx)
	if err != nil {
		s.log.Error("group members", "group", name, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return nil, false
	}
	d := &groupDetailData{Group: groupRow{GroupSummary: consent.GroupSummary{Group: consent.Group{Name: name}}, Path: groupPath(name)}}
	for _, g := range sums {
		if g.Name == name {
			d.Group.GroupSummary = g
		}
	}
	v := s.newView(c, "groups", "groups.detail.title", d)
	d.Total, d.Page = len(ms), pageParam(c)
	d.Pages = max(1, (d.Total+memberPageSize-1)/memberPageSize)
	from := min((d.Page-1)*memberPageSize, d.Total)
	for _, m := range ms[from:min(from+memberPageSize, d.Total)] {
		label := m.Source
		if key := "groups.source." + strings.ReplaceAll(m.Source, "-", "_"); s.cat.Has(v.lang, key) {
			label = v.T(key)
		}
		d.Members = append(d.Members, memberRow{Member: m, SourceLabel: label})
	}
	return v, true
}

func (s *server) groupDetail(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	v, ok := s.groupDetailView(c)
	if !ok {
		return
	}
	s.render(c, http.StatusOK, "group", v)
}

// groupAddMembers adds pasted numbers (newlines, commas, semicolons or
// spaces between them) read like every number in the portal: national
// ones in the portal's default country. Valid numbers are added even when
// others are not; the error names every rejected one.
// joinGroup adds the numbers an admin gave to group name (as added by
// hand, so an opt-out stays in force) and audits the additions, for the
// portal and the API alike. On an error it stops; what it added until
// then is reported and audited.
func (s *server) joinGroup(c *gin.Context, name string, valid []recipients.Recipient) (added, already []string, err error) {
	ctx := c.Request.Context()
	for _, r := range valid {
		var in bool
		in, err = s.d.Consent.IsMember(ctx, name, r.Number)
		if err == nil && !in {
			err = s.d.Consent.Join(ctx, name, r.Number, consent.SourceManual)
		}
		if err != nil {
			break
		}
		if in {
			already = append(already, r.Number)
		} else {
			added = append(added, r.Number)
		}
	}
	if len(added) > 0 {
		s.audit(c, "group.members_add", name+": "+strconv.Itoa(len(added))+" added")
	}
	return added, already, err
}

func (s *server) groupAddMembers(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	name := c.Param("name")
	text := strings.TrimSpace(c.PostForm("numbers"))
	res, perr := recipients.ParsePaste(text, s.defaultCountry(), 0)
	var added, already []string
	var addErr error
	if perr == nil {
		added, already, addErr = s.joinGroup(c, name, res.Valid)
	}
	if errors.Is(addErr, consent.ErrNoGroup) {
		s.renderError(c, http.StatusNotFound, "groups.err.not_found")
		return
	}
	v, ok := s.groupDetailView(c)
	if !ok {
		return
	}
	d := v.Data.(*groupDetailData)
	d.Added, d.Already, d.Shown = len(added), len(already), true
	var bad []string
	for _, p := range res.Invalid {
		bad = append(bad, p.Input)
	}
	switch {
	case errors.Is(perr, recipients.ErrTooMany):
		v.Errors["numbers"] = v.T("groups.err.too_many", recipients.DefaultLimit)
	case perr != nil:
		v.Errors["numbers"] = perr.Error()
	case addErr != nil:
		s.log.Error("group add members", "group", name, "err", addErr)
		v.Errors["numbers"] = v.T("error.internal")
	case len(res.Invalid) > 0:
		reasons := make([]string, 0, len(res.Invalid))
		for _, p := range res.Invalid {
			reasons = append(reasons, v.Reason(p.ReasonCode, p.Reason))
		}
		v.Errors["numbers"] = v.T("groups.err.invalid_numbers", len(res.Invalid), strings.Join(reasons, "; "))
	case len(res.Valid) == 0:
		v.Errors["numbers"] = v.T("groups.err.numbers_required")
	}
	if len(v.Errors) == 0 {
		s.flash(c, "groups.members_added")
		c.Redirect(http.StatusSeeOther, groupPath(name))
		return
	}
	// Only the rejected numbers stay in the field, to be corrected.
	v.Form["numbers"] = strings.Join(bad, "\n")
	if perr != nil || len(bad) == 0 {
		v.Form["numbers"] = text
	}
	s.render(c, http.StatusUnprocessableEntity, "group", v)
}

func (s *server) groupRemoveMember(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	ctx := c.Request.Context()
	name, number := c.Param("name"), c.PostForm("number")
	in, err := s.d.Consent.IsMember(ctx, name, number)
	switch {
	case errors.Is(err, consent.ErrNoGroup):
		s.renderError(c, http.StatusNotFound, "groups.err.not_found")
		return
	case err != nil:
		s.log.Error("group remove member", "group", name, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	case !in:
		s.flash(c, "groups.err.not_member")
	default:
		if err := s.d.Consent.Leave(ctx, name, number); err != nil {
			s.log.Error("group remove member", "group", name, "err", err)
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		s.audit(c, "group.member_remove", name+": "+number)
		s.flash(c, "groups.member_removed")
	}
	c.Redirect(http.StatusSeeOther, groupPath(name))
}

// groupDelete needs the confirmation box ticked: a group and its
// memberships cannot be restored, and keyword joins rebuild it only slowly.
func (s *server) groupDelete(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	name := c.Param("name")
	if c.PostForm("confirm") != "yes" {
		v, ok := s.groupDetailView(c)
		if !ok {
			return
		}
		v.Errors["confirm"] = v.T("groups.err.confirm")
		s.render(c, http.StatusUnprocessableEntity, "group", v)
		return
	}
	err := s.d.Consent.DeleteGroup(c.Request.Context(), name)
	switch {
	case errors.Is(err, consent.ErrNoGroup):
		s.renderError(c, http.StatusNotFound, "groups.err.not_found")
		return
	case err != nil:
		s.log.Error("group delete", "group", name, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.audit(c, "group.delete", name)
	s.flash(c, "groups.deleted")
	c.Redirect(http.StatusSeeOther, "/groups")
}
