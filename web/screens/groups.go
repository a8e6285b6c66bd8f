package screens

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
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

func (s *Screens) groupsUnavailable(c *gin.Context) bool {
	if s.D.Consent != nil {
		return false
	}
	s.Render(c, http.StatusOK, "unavailable", s.NewView(c, "groups", "nav.groups", "groups.unavailable"))
	return true
}

func (s *Screens) groupsView(c *gin.Context) (*app.View, error) {
	sums, err := s.D.Consent.GroupSummaries(c.Request.Context())
	if err != nil {
		return nil, err
	}
	d := &groupsData{}
	for _, g := range sums {
		d.Groups = append(d.Groups, groupRow{GroupSummary: g, Path: groupPath(g.Name)})
	}
	return s.NewView(c, "groups", "nav.groups", d), nil
}

func (s *Screens) GroupsPage(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	v, err := s.groupsView(c)
	if err != nil {
		s.Log.Error("groups page", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Render(c, http.StatusOK, "groups", v)
}

func (s *Screens) GroupCreate(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	ctx := c.Request.Context()
	name := strings.TrimSpace(c.PostForm("name"))
	desc := strings.TrimSpace(c.PostForm("description"))
	v, err := s.groupsView(c)
	if err != nil {
		s.Log.Error("groups page", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	v.Form["name"], v.Form["description"] = name, desc
	if code, _ := app.CheckGroupName(name); code != "" {
		v.Errors["name"] = v.T("groups.err."+code, app.MaxGroupNameRunes)
	} else if exists, err := s.D.Consent.HasGroup(ctx, name); err != nil {
		s.Log.Error("group create", "err", err)
		v.Errors["name"] = v.T("error.internal")
	} else if exists {
		v.Errors["name"] = v.T("groups.err.exists")
	}
	if len([]rune(desc)) > app.MaxGroupDescLen {
		v.Errors["description"] = v.T("groups.err.description", app.MaxGroupDescLen)
	}
	if len(v.Errors) == 0 {
		_, err := s.D.Consent.CreateGroup(ctx, name, desc)
		switch {
		case errors.Is(err, consent.ErrInvalidGroup):
			v.Errors["name"] = v.T("groups.err.name_invalid", err.Error())
		case err != nil:
			s.Log.Error("group create", "err", err)
			v.Errors["name"] = v.T("error.internal")
		default:
			s.Audit(c, "group.create", name)
			s.Flash(c, "groups.created_flash")
			c.Redirect(http.StatusSeeOther, groupPath(name))
			return
		}
	}
	s.Render(c, http.StatusUnprocessableEntity, "groups", v)
}

// groupDetailView loads one group and a page of its members; ok is false
// when it has answered (404 or 500).
func (s *Screens) groupDetailView(c *gin.Context) (*app.View, bool) {
	ctx := c.Request.Context()
	name := c.Param("name")
	ms, err := s.D.Consent.Members(ctx, name)
	if errors.Is(err, consent.ErrNoGroup) {
		s.RenderError(c, http.StatusNotFound, "groups.err.not_found")
		return nil, false
	}
	if err != nil {
		s.Log.Error("group members", "group", name, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return nil, false
	}
	sums, err := s.D.Consent.GroupSummaries(ctx)
	if err != nil {
		s.Log.Error("group members", "group", name, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return nil, false
	}
	d := &groupDetailData{Group: groupRow{GroupSummary: consent.GroupSummary{Group: consent.Group{Name: name}}, Path: groupPath(name)}}
	for _, g := range sums {
		if g.Name == name {
			d.Group.GroupSummary = g
		}
	}
	v := s.NewView(c, "groups", "groups.detail.title", d)
	d.Total, d.Page = len(ms), pageParam(c)
	d.Pages = max(1, (d.Total+app.MemberPageSize-1)/app.MemberPageSize)
	from := min((d.Page-1)*app.MemberPageSize, d.Total)
	for _, m := range ms[from:min(from+app.MemberPageSize, d.Total)] {
		label := m.Source
		if key := "groups.source." + strings.ReplaceAll(m.Source, "-", "_"); s.Cat.Has(v.Language, key) {
			label = v.T(key)
		}
		d.Members = append(d.Members, memberRow{Member: m, SourceLabel: label})
	}
	return v, true
}

func (s *Screens) GroupDetail(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	v, ok := s.groupDetailView(c)
	if !ok {
		return
	}
	s.Render(c, http.StatusOK, "group", v)
}

func (s *Screens) GroupAddMembers(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	name := c.Param("name")
	text := strings.TrimSpace(c.PostForm("numbers"))
	res, perr := recipients.ParsePaste(text, s.DefaultCountry(), 0)
	var added, already []string
	var addErr error
	if perr == nil {
		added, already, addErr = s.JoinGroup(c, name, res.Valid)
	}
	if errors.Is(addErr, consent.ErrNoGroup) {
		s.RenderError(c, http.StatusNotFound, "groups.err.not_found")
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
		s.Log.Error("group add members", "group", name, "err", addErr)
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
		s.Flash(c, "groups.members_added")
		c.Redirect(http.StatusSeeOther, groupPath(name))
		return
	}
	// Only the rejected numbers stay in the field, to be corrected.
	v.Form["numbers"] = strings.Join(bad, "\n")
	if perr != nil || len(bad) == 0 {
		v.Form["numbers"] = text
	}
	s.Render(c, http.StatusUnprocessableEntity, "group", v)
}

func (s *Screens) GroupRemoveMember(c *gin.Context) {
	if s.groupsUnavailable(c) {
		return
	}
	ctx := c.Request.Context()
	name, number := c.Param("name"), c.PostForm("number")
	in, err := s.D.Consent.IsMember(ctx, name, number)
	switch {
	case errors.Is(err, consent.ErrNoGroup):
		s.RenderError(c, http.StatusNotFound, "groups.err.not_found")
		return
	case err != nil:
		s.Log.Error("group remove member", "group", name, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	case !in:
		s.Flash(c, "groups.err.not_member")
	default:
		if err := s.D.Consent.Leave(ctx, name, number); err != nil {
			s.Log.Error("group remove member", "group", name, "err", err)
			s.RenderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		s.Audit(c, "group.member_remove", name+": "+number)
		s.Flash(c, "groups.member_removed")
	}
	c.Redirect(http.StatusSeeOther, groupPath(name))
}

// GroupDelete needs the confirmation box ticked: a group and its
// memberships cannot be restored, and keyword joins rebuild it only slowly.
func (s *Screens) GroupDelete(c *gin.Context) {
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
		s.Render(c, http.StatusUnprocessableEntity, "group", v)
		return
	}
	err := s.D.Consent.DeleteGroup(c.Request.Context(), name)
	switch {
	case errors.Is(err, consent.ErrNoGroup):
		s.RenderError(c, http.StatusNotFound, "groups.err.not_found")
		return
	case err != nil:
		s.Log.Error("group delete", "group", name, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Audit(c, "group.delete", name)
	s.Flash(c, "groups.deleted")
	c.Redirect(http.StatusSeeOther, "/groups")
}
