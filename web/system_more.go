package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/firmware/spool"
	"github.com/pbxgate/pbxgate/gateway/logbuf"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// LogSource is the daemon's recent log (*logbuf.Ring).
type LogSource interface {
	Records(q logbuf.Query) []logbuf.Record
}

// UpdateSpool hands firmware bundles uploaded in System to the appliance's
// update service (spool.Spool).
type UpdateSpool interface {
	Status() (spool.State, error)
	Stage(ctx context.Context, r io.Reader) (bundle.Manifest, error)
}

// RestoreStager loads an uploaded backup for the next start, after saving
// the current store to a backup file it names.
type RestoreStager interface {
	StageRestore(ctx context.Context, r io.Reader) (savedTo string, err error)
	RestorePending() bool
}

// maxBackupUpload bounds a restore upload (a Pi's store stays far below).
const maxBackupUpload = 4 << 30

const (
	logPageLimit = 500
	logAPILimit  = 2000
)

// streamingUpload: the handler streams the body itself (requireCSRF then
// takes the token from the query string instead of parsing the form).
func streamingUpload(c *gin.Context) bool {
	if c.Request.Method != http.MethodPost {
		return false
	}
	switch c.Request.URL.Path {
	case "/system/update", "/system/restore":
		return true
	}
	return false
}

// ---- logs ----

type logsData struct {
	Items     []logRow
	Level     string
	Levels    []string
	Query     string
	Available bool
}

// logRow is a record with its level as the page's word ("warn").
type logRow struct {
	logbuf.Record
	LevelName string
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

func parseLevel(s string) (slog.Level, bool) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, true
	}
	return l, l.UnmarshalText([]byte(s)) == nil
}

func (s *server) logRecords(level slog.Level, q string, limit int) []logbuf.Record {
	if s.d.Logs == nil {
		return nil
	}
	return s.d.Logs.Records(logbuf.Query{MinLevel: level, Contains: q, Limit: limit})
}

func (s *server) logsPage(c *gin.Context) {
	lvl, ok := parseLevel(c.Query("level"))
	if !ok {
		lvl = slog.LevelInfo
	}
	q := strings.TrimSpace(c.Query("q"))
	d := logsData{Level: levelName(lvl), Levels: []string{"debug", "info", "warn", "error"}, Query: q, Available: s.d.Logs != nil}
	for _, r := range s.logRecords(lvl, q, logPageLimit) {
		d.Items = append(d.Items, logRow{Record: r, LevelName: levelName(r.Level)})
	}
	s.render(c, http.StatusOK, "logs", s.newView(c, "system", "logs.title", d))
}

// logsText downloads the kept records, oldest first, as text lines.
func (s *server) logsText(c *gin.Context) {
	lvl, ok := parseLevel(c.Query("level"))
	if !ok {
		lvl = slog.LevelDebug
	}
	recs := s.logRecords(lvl, strings.TrimSpace(c.Query("q")), 0)
	c.Header("Content-Disposition", `attachment; filename="pbxgate.log"`)
	c.Header("Cache-Control", "no-store")
	var b strings.Builder
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		fmt.Fprintf(&b, "%s %-5s %s", r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Level, r.Msg)
		if r.Attrs != "" {
			b.WriteString(" " + r.Attrs)
		}
		b.WriteByte('\n')
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
}

func (s *server) apiLogs(c *gin.Context) {
	if s.d.Logs == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "the log buffer is not available in this installation", "")
		return
	}
	lvl, ok := parseLevel(c.Query("level"))
	if !ok {
		apiError(c, http.StatusBadRequest, "invalid", "level must be debug, info, warn or error", "level")
		return
	}
	limit := 200
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > logAPILimit {
			apiError(c, http.StatusBadRequest, "invalid", fmt.Sprintf("limit must be between 1 and %d", logAPILimit), "limit")
			return
		}
		limit = n
	}
	recs := s.logRecords(lvl, strings.TrimSpace(c.Query("q")), limit)
	c.JSON(http.StatusOK, page[logbuf.Record]{Items: nonNil(recs), Total: len(recs), Limit: limit})
}

// TimeSec is Time with seconds, for log lines.
func (v *view) TimeSec(t time.Time) string {
	if v.lang == i18n.DE {
		return t.In(v.loc).Format("02.01.2006 15:04:05")
	}
	return t.In(v.loc).Format("2006-01-02 15:04:05")
}

// ---- firmware update ----

// updateView is the System page's firmware card.
type updateView struct {
	Available   bool
	Unavailable string // why not (English detail for the hint)
	State       spool.State
	Staged      *bundle.Manifest // just uploaded
	Arch        string
}

func (s *server) updateView() *updateView {
	u := &updateView{Arch: bundle.Arch()}
	if s.d.Updates == nil {
		return u
	}
	st, err := s.d.Updates.Status()
	if err != nil {
		u.Unavailable = err.Error()
		if !errors.Is(err, spool.ErrUnavailable) {
			s.log.Error("update spool status", "err", err)
		}
		return u
	}
	u.Available, u.State = true, st
	return u
}

// updateErrKey maps a refusal to its message key and arguments.
func updateErrKey(err error) (string, []any) {
	switch {
	case errors.Is(err, bundle.ErrBadSignature):
		return "update.err.signature", nil
	case errors.Is(err, bundle.ErrPayloadMismatch):
		return "update.err.tampered", nil
	case errors.Is(err, bundle.ErrTruncated):
		return "update.err.truncated", nil
	case errors.Is(err, bundle.ErrWrongArch):
		return "update.err.arch", []any{bundle.Arch()}
	case errors.Is(err, bundle.ErrNotNewer):
		return "update.err.not_newer", nil
	case errors.Is(err, bundle.ErrTooOld):
		return "update.err.too_old", nil
	case errors.Is(err, bundle.ErrMalformed), errors.Is(err, bundle.ErrBadVersion):
		return "update.err.malformed", nil
	case errors.Is(err, bundle.ErrNoKeys):
		return "update.err.keys", nil
	case errors.Is(err, spool.ErrBusy):
		return "update.err.busy", nil
	case errors.Is(err, spool.ErrTooLarge):
		return "update.err.too_large", []any{spool.MaxBundleSize >> 20}
	case errors.Is(err, spool.ErrUnavailable):
		return "update.err.unavailable", nil
	}
	return "update.err.other", nil
}

// filePart returns the first file part of a streamed multipart form.
func filePart(c *gin.Context, field string) (*multipart.Part, error) {
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return nil, err
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, err
		}
		if p.FormName() == field && p.FileName() != "" {
			return p, nil
		}
	}
}

func (s *server) uploadUpdate(c *gin.Context) {
	if s.d.Updates == nil {
		s.systemNotice(c, http.StatusServiceUnavailable, func(v *view, d *systemData) { v.Errors["bundle"] = v.T("update.err.unavailable") })
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, spool.MaxBundleSize+1<<20)
	part, err := filePart(c, "bundle")
	if err != nil {
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) { v.Errors["bundle"] = v.T("update.err.no_file") })
		return
	}
	m, err := s.d.Updates.Stage(c.Request.Context(), part)
	if err != nil {
		key, args := updateErrKey(err)
		s.log.Warn("firmware update refused", "err", err, "user", currentUser(c).Name)
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) {
			msg := v.T(key, args...)
			if key == "update.err.other" {
				msg += " (" + err.Error() + ")"
			}
			v.Errors["bundle"] = msg
		})
		return
	}
	s.audit(c, "update.upload", m.Version+" "+m.Architecture)
	s.systemNotice(c, http.StatusOK, func(v *view, d *systemData) { d.Update.Staged = &m })
}

func (s *server) apiUpdateStatus(c *gin.Context) {
	u := s.updateView()
	c.JSON(http.StatusOK, gin.H{"available": u.Available, "unavailable": u.Unavailable, "architecture": u.Arch,
		"pending": u.State.Pending, "processing": u.State.Processing, "last": u.State.Last})
}

func (s *server) apiUploadUpdate(c *gin.Context) {
	if s.d.Updates == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", spool.ErrUnavailable.Error(), "")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, spool.MaxBundleSize+1<<20)
	m, err := s.d.Updates.Stage(c.Request.Context(), c.Request.Body)
	if err != nil {
		key, _ := updateErrKey(err)
		code := strings.TrimPrefix(key, "update.err.")
		status := http.StatusUnprocessableEntity
		switch code {
		case "busy":
			status = http.StatusConflict
		case "too_large":
			status = http.StatusRequestEntityTooLarge
		case "unavailable":
			status = http.StatusServiceUnavailable
		}
		apiError(c, status, "update_"+code, err.Error(), "")
		return
	}
	s.audit(c, "update.upload", m.Version+" "+m.Architecture)
	c.JSON(http.StatusAccepted, gin.H{"staged": m})
}

// ---- restore ----

// restartData is the page shown while the daemon restarts (restore, PBX
// settings): Message is its catalog key, Then where the page goes when
// the daemon answers again.
type restartData struct {
	Message string
	Then    string
	SavedTo string
}

func (s *server) restoreErr(err error) (string, []any) {
	switch {
	case errors.Is(err, store.ErrRestorePending):
		return "restore.err.pending", nil
	case errors.Is(err, store.ErrNewerSchema):
		return "restore.err.newer", nil
	default:
		return "restore.err.invalid", nil
	}
}

func (s *server) uploadRestore(c *gin.Context) {
	if s.d.Restore == nil {
		s.systemNotice(c, http.StatusServiceUnavailable, func(v *view, d *systemData) { v.Errors["backup"] = v.T("restore.err.unavailable") })
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBackupUpload)
	if ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); ct != "multipart/form-data" {
		s.systemNotice(c, http.StatusUnsupportedMediaType, func(v *view, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
		return
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
		return
	}
	// The confirmation checkbox comes before the file in the form.
	confirmed := false
	var part *multipart.Part
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FormName() == "confirm" {
			b, _ := io.ReadAll(io.LimitReader(p, 16))
			confirmed = string(b) == "yes"
			continue
		}
		if p.FormName() == "backup" && p.FileName() != "" {
			part = p
			break
		}
	}
	switch {
	case part == nil:
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) { v.Errors["backup"] = v.T("restore.err.no_file") })
		return
	case !confirmed:
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) { v.Errors["confirm"] = v.T("restore.err.confirm") })
		return
	}
	saved, err := s.d.Restore.StageRestore(c.Request.Context(), part)
	if err != nil {
		key, args := s.restoreErr(err)
		s.log.Warn("restore upload refused", "err", err, "user", currentUser(c).Name)
		s.systemNotice(c, http.StatusUnprocessableEntity, func(v *view, d *systemData) {
			v.Errors["backup"] = v.T(key, args...) + " (" + err.Error() + ")"
		})
		return
	}
	s.audit(c, "restore.upload", part.FileName())
	s.render(c, http.StatusOK, "restarting", s.newView(c, "system", "restore.title", restartData{Message: "restore.done", Then: "/login", SavedTo: saved}))
	s.restartAfterResponse(c, "restore")
}

func (s *server) apiUploadRestore(c *gin.Context) {
	if s.d.Restore == nil {
		apiError(c, http.StatusServiceUnavailable, "unavailable", "restore is not available in this installation", "")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBackupUpload)
	saved, err := s.d.Restore.StageRestore(c.Request.Context(), c.Request.Body)
	if err != nil {
		key, _ := s.restoreErr(err)
		status := http.StatusUnprocessableEntity
		if key == "restore.err.pending" {
			status = http.StatusConflict
		}
		apiError(c, status, "restore_"+strings.TrimPrefix(key, "restore.err."), err.Error(), "")
		return
	}
	s.audit(c, "restore.upload", "api")
	c.JSON(http.StatusAccepted, gin.H{"saved_to": saved, "restarting": s.d.Restart != nil})
	s.restartAfterResponse(c, "restore")
}

// restartAfterResponse asks the daemon to restart once this response is
// out (the server's graceful shutdown lets it finish).
func (s *server) restartAfterResponse(c *gin.Context, reason string) {
	if s.d.Restart == nil {
		return
	}
	c.Writer.Flush()
	s.d.Restart(reason)
}

// systemNotice renders the System page with a change to its data (an
// upload's outcome) instead of redirecting.
func (s *server) systemNotice(c *gin.Context, code int, fn func(v *view, d *systemData)) {
	v, err := s.systemView(c)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	fn(v, v.Data.(*systemData))
	s.render(c, code, "system", v)
}
