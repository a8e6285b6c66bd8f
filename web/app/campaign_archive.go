package app

import "context"

// CampaignArchiver is optionally implemented by a CampaignService that can
// move finished campaigns into the archive (on) and back.
type CampaignArchiver interface {
	ArchiveCampaign(ctx context.Context, id string, on bool) error
}

func (a *engineCampaigns) ArchiveCampaign(ctx context.Context, id string, on bool) error {
	_, err := a.e.Archive(ctx, id, on)
	return mapEngineErr(err)
}

// CanArchive reports whether c may go into the archive now.
func CanArchive(c CampaignSummary) bool {
	return !c.Archived && (c.State == StateCompleted || c.State == StateStopped)
}

// ReadOnly reports whether c takes no actions but delete and leaving the
// archive: archived, or its recipient details deleted by the retention.
func ReadOnly(c CampaignSummary) bool { return c.Archived || !c.PrunedAt.IsZero() }
