package web

import (
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/firmware/spool"
)

// UpdateSpool hands firmware bundles uploaded in System to the appliance's
// update service (spool.Spool).
type UpdateSpool interface {
	Status() (spool.State, error)
	Stage(ctx context.Context, r io.Reader) (bundle.Manifest, error)
}

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
