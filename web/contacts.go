package web

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/users"
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

// importContacts stores an uploaded phonebook (CSV or vCard) or DNC list.
func (s *server) importContacts(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
		ctx := c.Request.Context()
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
		if name == "" || len([]rune(name)) > 64 {
			fail(kind+"_name", "contacts.err.name")
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
		region := s.defaultCountry()
		var problems []recipients.Problem
		switch kind {
		case "phonebook":
			var res recipients.PhonebookImport
			if bytes.Contains(b[:min(len(b), 1024)], []byte("BEGIN:VCARD")) {
				res, err = recipients.NewPhonebooks(s.d.Store).ImportVCard(ctx, name, bytes.NewReader(b), region)
			} else {
				res, err = recipients.NewPhonebooks(s.d.Store).ImportCSV(ctx, name, bytes.NewReader(b), recipients.CSVOptions{Region: region})
			}
			problems = res.Invalid
		case "dnc":
			var res recipients.Result
			_, res, err = recipients.NewLists(s.d.Store).Import(ctx, name, bytes.NewReader(b), recipients.CSVOptions{Region: region})
			problems = res.Invalid
		}
		switch {
		case errors.Is(err, recipients.ErrNoPhoneColumn):
			fail(field, "campaign.err.csv_no_phone")
			return
		case errors.Is(err, recipients.ErrTooMany):
			fail(field, "contacts.err.too_many")
			return
		case err != nil:
			fail(field, "campaign.err.csv_read", err.Error())
			return
		}
		s.audit(c, "contacts.import", kind+": "+name)
		v, err := s.contactsView(c)
		if err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		d := v.Data.(*contactsData)
		d.Imported, d.Problems = name, problems
		s.render(c, http.StatusOK, "contacts", v)
	}
}

func (s *server) deleteContacts(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		name := c.Param("name")
		var err error
		if kind == "phonebook" {
			err = recipients.NewPhonebooks(s.d.Store).Delete(ctx, name)
		} else {
			err = recipients.NewLists(s.d.Store).Delete(ctx, name)
		}
		switch {
		case errors.Is(err, recipients.ErrNoList):
			s.flash(c, "contacts.err.not_found")
		case err != nil:
			s.log.Error("delete contacts", "kind", kind, "err", err)
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		default:
			s.audit(c, "contacts.delete", kind+": "+name)
			s.flash(c, "contacts.deleted")
		}
		c.Redirect(http.StatusSeeOther, "/contacts")
	}
}

func (s *server) contactRoutes(p *gin.RouterGroup) {
	p.GET("/contacts", s.contactsPage)
	p.POST("/contacts/phonebooks", s.importContacts("phonebook"))
	// Do-not-contact lists are compliance data: only admins change them.
	admin := p.Group("/contacts", s.requireRole(users.RoleAdmin))
	admin.POST("/dnc", s.importContacts("dnc"))
	admin.POST("/phonebooks/:name/delete", s.deleteContacts("phonebook"))
	admin.POST("/dnc/:name/delete", s.deleteContacts("dnc"))
}
