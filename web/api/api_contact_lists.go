package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// Contact lists (app/contact_lists.go): GET /contact-lists, GET/DELETE
// /contact-lists/{name}, POST /contact-lists/{name}/contacts (JSON) and
// POST /contact-lists/{name}/import (CSV as multipart "file" or raw body;
// ?replace=true replaces the contacts).

func (s *API) APIContactLists(c *gin.Context) {
	ls, err := s.ContactLists().All(c.Request.Context())
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "reading the contact lists failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, app.PageOf(app.NonNil(ls), 0, max(1, len(ls))))
}

// APIContactList is one contact list with a page of its contacts.
func (s *API) APIContactList(c *gin.Context) {
	offset, limit, ok := app.Pagination(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	l := s.ContactLists()
	meta, err := l.Get(ctx, c.Param("name"))
	if err != nil {
		s.apiContactsErr(c, err, "contact list")
		return
	}
	cs, err := l.Contacts(ctx, meta.Name, 0)
	if err != nil {
		s.apiContactsErr(c, err, "contact list")
		return
	}
	c.JSON(http.StatusOK, struct {
		recipients.ContactList
		Items app.Page[recipients.Contact] `json:"contacts"`
	}{meta, app.PageOf(app.NonNil(cs), offset, limit)})
}

// apiListContact is one contact to add: its number and other columns.
type apiListContact struct {
	Number string            `json:"number"`
	Fields map[string]string `json:"fields"`
}

func (s *API) APIAddListContacts(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxUpload)
	var req struct {
		Contacts []apiListContact `json:"contacts"`
	}
	if apiBodyErr(c, c.ShouldBindJSON(&req), "bad_json", "request body is not valid JSON: {\"contacts\": [{\"number\": …, \"fields\": {…}}]}") {
		return
	}
	name := strings.TrimSpace(c.Param("name"))
	if p := app.ContactNameProblem(name); p != nil {
		s.APIProblem(c, p)
		return
	}
	if len(req.Contacts) == 0 {
		app.APIError(c, http.StatusUnprocessableEntity, "required", "contacts must list at least one contact", "contacts")
		return
	}
	in := make([]recipients.Recipient, len(req.Contacts))
	for i, k := range req.Contacts {
		in[i] = recipients.Recipient{Number: k.Number, Vars: k.Fields, Line: i + 1}
	}
	meta, res, err := s.ContactLists().Append(c.Request.Context(), name, in, s.DefaultCountry())
	switch {
	case errors.Is(err, recipients.ErrTooMany):
		app.APIError(c, http.StatusUnprocessableEntity, "too_many", err.Error(), "contacts")
		return
	case err != nil:
		s.Log.Error("api: add contacts", "list", name, "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "adding the contacts failed; see the pbxgate log", "")
		return
	}
	s.Audit(c, "contact_list.add", name+": "+strconv.Itoa(len(res.Valid)))
	s.ListChanged(name)
	c.JSON(http.StatusCreated, gin.H{"list": meta, "added": len(res.Valid), "duplicates": app.NonNil(res.Duplicates), "invalid": app.NonNil(res.Invalid)})
}

func (s *API) APIImportListCSV(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxUpload)
	name := strings.TrimSpace(c.Param("name"))
	b, ok := s.readContactFile(c, name)
	if !ok {
		return
	}
	replace, _ := strconv.ParseBool(c.Query("replace"))
	meta, res, err := s.ImportListCSV(c, name, b, replace)
	var p *app.InputProblem
	switch {
	case errors.As(err, &p):
		s.APIProblem(c, p)
	case err != nil:
		app.APIError(c, http.StatusInternalServerError, "internal", "the import failed; see the pbxgate log", "")
	default:
		c.JSON(http.StatusCreated, gin.H{"list": meta, "added": len(res.Valid), "duplicates": app.NonNil(res.Duplicates), "invalid": res.Invalid})
	}
}

// apiListProblem checks an API campaign's list source; false: it answered.
func (s *API) apiListProblem(c *gin.Context, src *campaign.ListSource) bool {
	if src == nil {
		return true
	}
	found, err := s.CheckListSource(c.Request.Context(), src)
	switch {
	case !found:
		app.APIError(c, http.StatusUnprocessableEntity, "not_found", s.Cat.T(i18n.EN, "lists.err.not_found", src.Name), "list")
		return false
	case err != nil:
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "list")
		return false
	}
	return true
}
