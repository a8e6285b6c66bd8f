package screens

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

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

func (s *Screens) contactsView(c *gin.Context) (*app.View, error) {
	ctx := c.Request.Context()
	var d contactsData
	var err error
	if d.Phonebooks, err = recipients.NewPhonebooks(s.D.Store).All(ctx); err != nil {
		return nil, err
	}
	if d.DNCLists, err = recipients.NewLists(s.D.Store).All(ctx); err != nil {
		return nil, err
	}
	return s.NewView(c, "contacts", "nav.contacts", &d), nil
}

func (s *Screens) ContactsPage(c *gin.Context) {
	v, err := s.contactsView(c)
	if err != nil {
		s.Log.Error("contacts page", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Render(c, http.StatusOK, "contacts", v)
}

// ImportContacts stores an uploaded phonebook (CSV or vCard) or DNC list.
func (s *Screens) ImportContacts(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxUpload)
		name := strings.TrimSpace(c.PostForm("name"))
		field := kind + "_file"
		fail := func(f, key string, args ...any) {
			v, err := s.contactsView(c)
			if err != nil {
				s.RenderError(c, http.StatusInternalServerError, "error.internal")
				return
			}
			v.Form[kind+"_name"] = name
			v.Errors[f] = v.T(key, args...)
			s.Render(c, http.StatusUnprocessableEntity, "contacts", v)
		}
		if p := app.ContactNameProblem(name); p != nil {
			fail(kind+"_name", p.Key)
			return
		}
		b, err := app.ReadUpload(c)
		switch {
		case errors.Is(err, app.ErrUploadMissing):
			fail(field, "campaign.err.csv_missing")
			return
		case err != nil:
			fail(field, "campaign.err.csv_type")
			return
		}
		res, err := s.ImportContactFile(c, kind, name, b)
		if p := (*app.InputProblem)(nil); errors.As(err, &p) {
			fail(field, p.Key, p.Args...)
			return
		}
		v, err := s.contactsView(c)
		if err != nil {
			s.RenderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		d := v.Data.(*contactsData)
		d.Imported, d.Problems = name, res.Problems
		s.Render(c, http.StatusOK, "contacts", v)
	}
}

// DeleteContacts deletes a phonebook, DNC list or contact list (kind
// "phonebook", "dnc", "list") and goes back to its page.
func (s *Screens) DeleteContacts(kind string) gin.HandlerFunc {
	back := "/contacts"
	if kind == "list" {
		back = "/contacts/lists"
	}
	return func(c *gin.Context) {
		err := s.DeleteContactList(c, kind, c.Param("name"))
		switch {
		case errors.Is(err, recipients.ErrNoList):
			s.Flash(c, "contacts.err.not_found")
		case err != nil:
			s.Log.Error("delete contacts", "kind", kind, "err", err)
			s.RenderError(c, http.StatusInternalServerError, "error.internal")
			return
		default:
			s.Flash(c, "contacts.deleted")
		}
		c.Redirect(http.StatusSeeOther, back)
	}
}
