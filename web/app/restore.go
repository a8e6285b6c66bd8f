package app

import (
	"context"
	"errors"
	"io"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// RestoreStager loads an uploaded backup for the next start, after saving
// the current store to a backup file it names.
type RestoreStager interface {
	StageRestore(ctx context.Context, r io.Reader) (savedTo string, err error)
	RestorePending() bool
}

// MaxBackupUpload bounds a restore upload (a Pi's store stays far below).
const MaxBackupUpload = 4 << 30

func (s *Server) RestoreErr(err error) (string, []any) {
	switch {
	case errors.Is(err, store.ErrRestorePending):
		return "restore.err.pending", nil
	case errors.Is(err, store.ErrNewerSchema):
		return "restore.err.newer", nil
	default:
		return "restore.err.invalid", nil
	}
}

// RestartAfterResponse asks the daemon to restart once this response is
// out (the server's graceful shutdown lets it finish).
func (s *Server) RestartAfterResponse(c *gin.Context, reason string) {
	if s.D.Restart == nil {
		return
	}
	c.Writer.Flush()
	s.D.Restart(reason)
}
