package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"syscall"

	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/firmware/spool"
	"github.com/pbxgate/pbxgate/gateway/diskguard"
)

// UpdateSpool hands firmware bundles uploaded in System to the appliance's
// update service (spool.Spool).
type UpdateSpool interface {
	Status() (spool.State, error)
	Stage(ctx context.Context, r io.Reader) (bundle.Manifest, error)
}

// UpdateView is the System page's firmware card.
type UpdateView struct {
	Available   bool
	Unavailable string // why not (English detail for the hint)
	State       spool.State
	Staged      *bundle.Manifest // just uploaded
	Arch        string
}

func (s *Server) UpdateView() *UpdateView {
	u := &UpdateView{Arch: bundle.Arch()}
	if s.D.Updates == nil {
		return u
	}
	st, err := s.D.Updates.Status()
	if err != nil {
		u.Unavailable = err.Error()
		if !errors.Is(err, spool.ErrUnavailable) {
			s.Log.Error("update spool status", "err", err)
		}
		return u
	}
	u.Available, u.State = true, st
	return u
}

// UpdateErrKey maps a refusal to its message key and arguments.
func UpdateErrKey(err error) (string, []any) {
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
	case errors.Is(err, diskguard.ErrDiskFull), errors.Is(err, syscall.ENOSPC):
		return "update.err.disk_full", nil
	case errors.As(err, new(*http.MaxBytesError)):
		return "update.err.too_large", []any{spool.MaxBundleSize >> 20}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled):
		return "update.err.upload_broken", nil
	}
	return "update.err.other", nil
}
