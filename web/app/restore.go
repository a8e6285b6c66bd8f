package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/diskguard"
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

// RestoreErr says why a restore was refused: a catalog key ("restore.err.
// <code>", the API's error code "restore_<code>") and its arguments, never
// the Go error's English text (the caller logs that).
func (s *Server) RestoreErr(err error) (string, []any) {
	var newer *store.NewerSchemaError
	switch {
	case errors.Is(err, store.ErrRestorePending):
		return "restore.err.pending", nil
	case errors.As(err, &newer):
		return "restore.err.newer_schema", []any{newer.Backup, newer.Known}
	case errors.Is(err, store.ErrNewerSchema):
		return "restore.err.newer", nil
	case errors.Is(err, diskguard.ErrDiskFull), errors.Is(err, syscall.ENOSPC):
		return "restore.err.disk_full", nil
	case errors.Is(err, store.ErrSafetyBackup):
		return "restore.err.safety_backup", nil
	case errors.Is(err, store.ErrNoPbxgateData):
		return "restore.err.no_data", nil
	case errors.As(err, new(*http.MaxBytesError)):
		return "restore.err.too_large", []any{MaxBackupUpload >> 30}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled):
		return "restore.err.upload_broken", nil
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
