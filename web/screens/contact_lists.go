package screens

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/web/app"
)

// The contact lists page (/contacts/lists): living lists campaigns take
// their recipients from (app/contact_lists.go), imported or appended as
// CSV.

// contactListsData is the contact lists page.
type contactListsData struct {
	Lists    []recipients.ContactList
	Imported string
	Added    int
	Problems []recipients.Problem
}

func (s *Screens) contactListsView(c *gin.Context) (*app.View, error) {
	ls, err := s.ContactLists().All(c.Request.Context())
	if err != nil {
		return nil, err
	}
	return s.NewView(c, "contacts", "lists.title", &contactListsData{Lists: ls}), nil
}

func (s *Screens) ContactListsPage(c *gin.Context) {
	v, err := s.contactListsView(c)
	if err != nil {
		s.Log.Error("contact lists page", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Render(c, http.StatusOK, "contact_lists", v)
}

// ImportContactList appends (or, with replace, replaces) an uploaded CSV
// to a contact list.
func (s *Screens) ImportContactList(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxUpload)
	name := strings.TrimSpace(c.PostForm("name"))
	fail := func(field, key string, args ...any) {
		v, err := s.contactListsView(c)
		if err != nil {
			s.RenderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		v.Form["list_name"] = name
		v.Errors[field] = v.T(key, args...)
		s.Render(c, http.StatusUnprocessableEntity, "contact_lists", v)
	}
	if p := app.ContactNameProblem(name); p != nil {
		fail("list_name", p.Key)
		return
	}
	b, err := app.ReadUpload(c)
	switch {
	case errors.Is(err, app.ErrUploadMissing):
		fail("list_file", "campaign.err.csv_missing")
		return
	case err != nil:
		fail("list_file", "campaign.err.csv_type")
		return
	}
	meta, res, err := s.ImportListCSV(c, name, b, c.PostForm("replace") != "")
	if p := (*app.InputProblem)(nil); errors.As(err, &p) {
		fail("list_file", p.Key, p.Args...)
		return
	}
	v, err := s.contactListsView(c)
	if err != nil {
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	d := v.Data.(*contactListsData)
	d.Imported, d.Added, d.Problems = meta.Name, len(res.Valid), res.Invalid
	s.Render(c, http.StatusOK, "contact_lists", v)
}
