package app

import (
	"errors"
	"net/http"

	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// FileProblem says why an uploaded CSV file (campaign recipients,
// phonebook, do-not-contact list, contact list) gives no recipients, for
// field: a code and a catalog key with its arguments, never the Go
// error's English text (callers log err when FileUnreadable reports the
// cause is unknown).
func FileProblem(field string, err error) *InputProblem {
	var rows *recipients.NoReadableRowsError
	switch {
	case errors.Is(err, recipients.ErrEmptyFile):
		return Problem(field, "empty", "errwalk.file.empty")
	case errors.As(err, &rows):
		return Problem(field, "no_readable_rows", "errwalk.file.no_rows", rows.First.Line)
	case errors.Is(err, recipients.ErrFileTooLarge), errors.As(err, new(*http.MaxBytesError)):
		return Problem(field, "too_large", "errwalk.file.too_large", recipients.MaxFileSize>>20)
	case errors.Is(err, recipients.ErrNoValidNumber):
		return Problem(field, "no_valid_number", "errwalk.file.no_valid_number")
	}
	return Problem(field, "unreadable", "errwalk.file.unreadable")
}

// FileUnreadable reports whether p is FileProblem's answer for a cause
// it does not know (the caller logs the error).
func FileUnreadable(p *InputProblem) bool { return p != nil && p.Code == "unreadable" }
