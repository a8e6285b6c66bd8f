package screens

import (
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// archiveData sets the archive buttons of a campaign page and takes the
// actions away from a read-only (archived or pruned) campaign.
func (s *Screens) archiveData(d *campaignDetailData) {
	if _, ok := s.D.Campaigns.(app.CampaignArchiver); ok {
		d.CanArchive = app.CanArchive(d.C.CampaignSummary)
		d.CanUnarchive = d.C.Archived
	}
	if app.ReadOnly(d.C.CampaignSummary) {
		d.CanStop, d.CanRetry, d.CanStart, d.CanResume = false, false, false, false
	}
}

// CampaignArchive moves a finished campaign into the archive (on) or back,
// and shows it.
func (s *Screens) CampaignArchive(on bool) gin.HandlerFunc {
	done := map[bool]string{true: "campaign.done.archive", false: "campaign.done.unarchive"}[on]
	return func(c *gin.Context) {
		id := c.Param("id")
		back := "/campaigns/" + url.PathEscape(id)
		campaignOp(s, c, "campaign archive", "campaign.err.archive_state", back, done, back,
			func(a app.CampaignArchiver) error { return a.ArchiveCampaign(c.Request.Context(), id, on) })
	}
}
