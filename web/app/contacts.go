package app

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// ReadUpload reads the form's file after the size and text checks.
func ReadUpload(c *gin.Context) ([]byte, error) {
	fh, err := c.FormFile("file")
	if err != nil {
		return nil, ErrUploadMissing
	}
	f, err := OpenCSV(fh)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, recipients.MaxFileSize+1))
}

var ErrUploadMissing = errors.New("no file")

// ContactNameProblem checks the name of a phonebook or DNC list.
func ContactNameProblem(name string) *InputProblem {
	if name == "" || len([]rune(name)) > 64 {
		return Problem("name", "invalid", "contacts.err.name")
	}
	return nil
}

// ContactImport is what an import stored and the rows it rejected, with
// their lines.
type ContactImport struct {
	Phonebook *recipients.Phonebook `json:"phonebook,omitempty"`
	DNCList   *recipients.DNCList   `json:"dnc_list,omitempty"`
	Problems  []recipients.Problem  `json:"problems"`
}

// ImportContactFile stores b as phonebook name (CSV or vCard) or as
// do-not-contact list name (kind "phonebook" or "dnc") and audits it.
// Problems with the file are *inputProblem for field "file".
func (s *Server) ImportContactFile(c *gin.Context, kind, name string, b []byte) (ContactImport, error) {
	ctx := c.Request.Context()
	region := s.DefaultCountry()
	var out ContactImport
	var err error
	switch kind {
	case "phonebook":
		var res recipients.PhonebookImport
		if bytes.Contains(b[:min(len(b), 1024)], []byte("BEGIN:VCARD")) {
			res, err = recipients.NewPhonebooks(s.D.Store).ImportVCard(ctx, name, bytes.NewReader(b), region)
		} else {
			res, err = recipients.NewPhonebooks(s.D.Store).ImportCSV(ctx, name, bytes.NewReader(b), recipients.CSVOptions{Region: region})
		}
		out.Phonebook, out.Problems = &res.Phonebook, res.Invalid
	case "dnc":
		var list recipients.DNCList
		var res recipients.Result
		list, res, err = recipients.NewLists(s.D.Store).Import(ctx, name, bytes.NewReader(b), recipients.CSVOptions{Region: region})
		out.DNCList, out.Problems = &list, res.Invalid
	}
	switch {
	case errors.Is(err, recipients.ErrNoPhoneColumn):
		return out, Problem("file", "no_phone_column", "campaign.err.csv_no_phone")
	case errors.Is(err, recipients.ErrTooMany):
		return out, Problem("file", "too_many", "contacts.err.too_many")
	case err != nil:
		p := FileProblem("file", err)
		if FileUnreadable(p) {
			s.Log.Warn("contact import: file unreadable", "kind", kind, "err", err)
		}
		return out, p
	}
	s.Audit(c, "contacts.import", kind+": "+name)
	out.Problems = NonNil(out.Problems)
	return out, nil
}

// DeleteContactList removes phonebook, DNC list or contact list name
// (kind "phonebook", "dnc" or "list") and audits it;
// recipients.ErrNoList when there is none.
func (s *Server) DeleteContactList(c *gin.Context, kind, name string) error {
	ctx := c.Request.Context()
	var err error
	switch kind {
	case "phonebook":
		err = recipients.NewPhonebooks(s.D.Store).Delete(ctx, name)
	case "list":
		if err = s.ContactLists().Delete(ctx, name); err == nil {
			s.Audit(c, "contact_list.delete", name)
		}
		return err
	default:
		err = recipients.NewLists(s.D.Store).Delete(ctx, name)
	}
	if err == nil {
		s.Audit(c, "contacts.delete", kind+": "+name)
	}
	return err
}

// ReadTextBody reads a raw upload of at most recipients.MaxFileSize bytes
// that must be text, as openCSV checks a form's file.
func ReadTextBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, recipients.MaxFileSize+1))
	switch {
	case err != nil:
		return nil, err
	case len(b) == 0:
		return nil, ErrUploadMissing
	case len(b) > recipients.MaxFileSize:
		return nil, &http.MaxBytesError{Limit: recipients.MaxFileSize}
	case !strings.HasPrefix(http.DetectContentType(b[:min(len(b), 512)]), "text/"):
		return nil, errNotCSV
	}
	return b, nil
}
