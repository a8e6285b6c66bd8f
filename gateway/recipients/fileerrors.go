package recipients

import (
	"errors"
	"fmt"
)

// Why an uploaded CSV file gives no recipients, for the portal to say in
// the user's language (web/app/fileproblem.go).
var (
	// ErrEmptyFile: the file has no rows at all.
	ErrEmptyFile = errors.New("the file is empty")
	// ErrFileTooLarge: the file exceeds MaxFileSize.
	ErrFileTooLarge = errors.New("the file is too large")
	// ErrNoValidNumber: a do-not-contact list or phonebook file without
	// one valid number.
	ErrNoValidNumber = errors.New("the file has no valid phone number")
)

// NoReadableRowsError: every row of the file is broken (an unclosed
// quote, a binary line); First is the first of them.
type NoReadableRowsError struct{ First Problem }

func (e *NoReadableRowsError) Error() string { return fmt.Sprintf("no readable rows: %s", e.First) }
