package app

import (
	"context"
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
	MemberPageSize    = 100
	MaxGroupDescLen   = 200
	MaxGroupNameRunes = 64
)

// CheckGroupName is the portal's and the API's check before CreateGroup:
// a catalog key suffix ("groups.err.<code>") and the English text.
func CheckGroupName(name string) (code, msg string) {
	switch {
	case name == "":
		return "name_required", "name is required"
	case len([]rune(name)) > MaxGroupNameRunes:
		return "name_too_long", "name is longer than 64 characters"
	case strings.ContainsAny(name, "/\x00"):
		return "name_slash", "name must not contain '/'"
	}
	return "", ""
}

// GroupAddMembers adds pasted numbers (newlines, commas, semicolons or
// spaces between them) read like every number in the portal: national
// ones in the portal's default country. Valid numbers are added even when
// others are not; the error names every rejected one.
// JoinGroup adds the numbers an admin gave to group name (as added by
// hand, so an opt-out stays in force) and audits the additions, for the
// portal and the API alike. On an error it stops; what it added until
// then is reported and audited.
func (s *Server) JoinGroup(c *gin.Context, name string, valid []recipients.Recipient) (added, already []string, err error) {
	ctx := c.Request.Context()
	for _, r := range valid {
		var in bool
		in, err = s.D.Consent.IsMember(ctx, name, r.Number)
		if err == nil && !in {
			err = s.D.Consent.Join(ctx, name, r.Number, consent.SourceManual)
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
		s.Audit(c, "group.members_add", name+": "+strconv.Itoa(len(added))+" added")
	}
	return added, already, err
}
