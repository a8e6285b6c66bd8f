package web

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// contactsData is the Contacts page: phonebooks (campaign recipients by
// number type) and do-not-contact lists.
type contactsData struct {
	Phonebooks []recipients.Phonebook
	DNCLists   []recipients.DNCList
	// Result of the last import on this page.
	Imported string
	Problems []recipients.Problem
}

func (s *server) contactsView(c *gin.Context) (*view, error) {
	ctx := c.Request.Context()
	var d contactsData
	var err error
	if d.Phonebooks, err = recipients.NewPhonebooks(s.d.Store).All(ctx); err != nil {
		return nil, err
	}
	if d.DNCLists, err = recipients.NewLists(s.d.Store).All(ctx); err != nil {
		return nil, err
	}
	return s.newView(c, "contacts", "nav.contacts", &d), nil
}

func (s *server) contactsPage(c *gin.Context) {
	v, err := s.contactsView(c)
	if err != nil {
		s.log.Error("contacts page", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "contacts", v)
}

// readUpload reads the form's file after the size and text checks.
func readUpload(c *gin.Context) ([]byte, error) {
	fh, err := c.FormFile("file")
	if err != nil {
		return nil, errUploadMissing
	}
	f, err := openCSV(fh)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, recipients.MaxFileSize+1))
}

var errUploadMissing = errors.New("no file")

// contactNameProblem checks the name of a phonebook or DNC list.
func contactNameProblem(name string) *inputProblem {
	if name == "" || len([]rune(name)) > 64 {
		return problem("name", "invalid", "contacts.err.name")
	}
	return nil
}

// contactImport is what an import stored and the rows it rejected, with
// their lines.
type contactImport struct {
	Phonebook *recipients.Phonebook `json:"phonebook,omitempty"`
	DNCList   *recipients.DNCList   `json:"dnc_list,omitempty"`
	Problems  []recipients.Problem  `json:"problems"`
}

// importContactFile stores b as phonebook name (CSV or vCard) or as
// do-not-contact list name (kind "phonebook" or "dnc") and audits it.
// Problems with the file are *inputProblem for field "file".
func (s *server) importContactFile(c *gin.Context, kind, name string, b []byte) (contactImport, error) {
	ctx := c.Request.Context()
	region := s.defaultCountry()
	var out contactImport
	var err error
	switch kind {
	case "phonebook":
		var res recipients.PhonebookImport
		if bytes.Contains(b[:min(len(b), 1024)], []byte("BEGIN:VCARD")) {
			res, err = recipients.NewPhonebooks(s.d.Store).ImportVCard(ctx, name, bytes.NewReader(b), region)
		} else {
			res, err = recipients.NewPhonebooks(s.d.Store).ImportCSV(ctx, name, bytes.NewReader(b), recipients.CSVOptions{Region: region})
		}
		out.Phonebook, out.Problems = &res.Phonebook, res.Invalid
	case "dnc":
		var list recipients.DNCList
		var res recipients.Result
		list, res, err = recipients.NewLists(s.d.Store).Import(ctx, name, bytes.NewReader(b), recipients.CSVOptions{Region: region})
		out.DNCList, out.Problems = &list, res.Invalid
	}
	switch {
	case errors.Is(err, recipients.ErrNoPhoneColumn):
		return out, problem("file", "no_phone_column", "campaign.err.csv_no_phone")
	case errors.Is(err, recipients.ErrTooMany):
		return out, problem("file", "too_many", "contacts.err.too_many")
	case err != nil:
		return out, problem("file", "unreadable", "campaign.err.csv_read", err.Error())
	}
	s.audit(c, "contacts.import", kind+": "+name)
	out.Problems = nonNil(out.Problems)
	return out, nil
}

// importContacts stores an uploaded phonebook (CSV or vCard) or DNC list.
func (s *server) importContacts(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
		name := strings.TrimSpace(c.PostForm("name"))
		field := kind + "_file"
		fail := func(f, key string, args ...any) {
			v, err := s.contactsView(c)
			if err != nil {
				s.renderError(c, http.StatusInternalServerError, "error.internal")
				return
			}
			v.Form[kind+"_name"] = name
			v.Errors[f] = v.T(key, args...)
			s.render(c, http.StatusUnprocessableEntity, "contacts", v)
		}
		if p := contactNameProblem(name); p != nil {
			fail(kind+"_name", p.Key)
			return
		}
		b, err := readUpload(c)
		switch {
		case errors.Is(err, errUploadMissing):
			fail(field, "campaign.err.csv_missing")
			return
		case err != nil:
			fail(field, "campaign.err.csv_type")
			return
		}
		res, err := s.importContactFile(c, kind, name, b)
		if p := (*inputProblem)(nil); errors.As(err, &p) {
			fail(field, p.Key, p.Args...)
			return
		}
		v, err := s.contactsView(c)
		if err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		d := v.Data.(*contactsData)
		d.Imported, d.Problems = name, res.Problems
		s.render(c, http.StatusOK, "contacts", v)
	}
}

// deleteContactList removes phonebook or DNC list name and audits it;
// recipients.ErrNoList when there is none.
func (s *server) deleteContactList(c *gin.Context, kind, name string) error {
	ctx := c.Request.Context()
	var err error
	if kind == "phonebook" {
		err = recipients.NewPhonebooks(s.d.Store).Delete(ctx, name)
	} else {
		err = recipients.NewLists(s.d.Store).Delete(ctx, name)
	}
	if err == nil {
		s.audit(c, "contacts.delete", kind+": "+name)
	}
	return err
}

func (s *server) deleteContacts(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		err := s.deleteContactList(c, kind, c.Param("name"))
		switch {
		case errors.Is(err, recipients.ErrNoList):
			s.flash(c, "contacts.err.not_found")
		case err != nil:
			s.log.Error("delete contacts", "kind", kind, "err", err)
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		default:
			s.flash(c, "contacts.deleted")
		}
		c.Redirect(http.StatusSeeOther, "/contacts")
	}
}
