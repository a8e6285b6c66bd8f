package web

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// Contact lists (seed 001): living lists a campaign takes its recipients
// from, filtered and sorted by their columns; an "always running"
// campaign sends to the contacts added later (API, CSV import) until it
// is stopped. The portal page is /contacts/lists; the API
// /api/v1/contact-lists.

// listNotifier is implemented by the campaign service that runs
// always-running campaigns (EngineCampaigns).
type listNotifier interface{ ListChanged(list string) }

// ListChanged wakes the engine's always-running campaigns on list.
func (a *engineCampaigns) ListChanged(list string) { a.e.ListChanged(list) }

func (s *server) contactLists() *recipients.ContactLists {
	return recipients.NewContactLists(s.d.Store)
}

func (s *server) listChanged(name string) {
	if n, ok := s.d.Campaigns.(listNotifier); ok {
		n.ListChanged(name)
	}
}

// contactListsData is the contact lists page.
type contactListsData struct {
	Lists    []recipients.ContactList
	Imported string
	Added    int
	Problems []recipients.Problem
}

func (s *server) contactListsView(c *gin.Context) (*view, error) {
	ls, err := s.contactLists().All(c.Request.Context())
	if err != nil {
		return nil, err
	}
	return s.newView(c, "contacts", "lists.title", &contactListsData{Lists: ls}), nil
}

func (s *server) contactListsPage(c *gin.Context) {
	v, err := s.contactListsView(c)
	if err != nil {
		s.log.Error("contact lists page", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "contact_lists", v)
}

// importContactList appends (or, with replace, replaces) an uploaded CSV
// to a contact list.
func (s *server) importContactList(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
	name := strings.TrimSpace(c.PostForm("name"))
	fail := func(field, key string, args ...any) {
		v, err := s.contactListsView(c)
		if err != nil {
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		}
		v.Form["list_name"] = name
		v.Errors[field] = v.T(key, args...)
		s.render(c, http.StatusUnprocessableEntity, "contact_lists", v)
	}
	if p := contactNameProblem(name); p != nil {
		fail("list_name", p.Key)
		return
	}
	b, err := readUpload(c)
	switch {
	case errors.Is(err, errUploadMissing):
		fail("list_file", "campaign.err.csv_missing")
		return
	case err != nil:
		fail("list_file", "campaign.err.csv_type")
		return
	}
	meta, res, err := s.importListCSV(c, name, b, c.PostForm("replace") != "")
	if p := (*inputProblem)(nil); errors.As(err, &p) {
		fail("list_file", p.Key, p.Args...)
		return
	}
	v, err := s.contactListsView(c)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	d := v.Data.(*contactListsData)
	d.Imported, d.Added, d.Problems = meta.Name, len(res.Valid), res.Invalid
	s.render(c, http.StatusOK, "contact_lists", v)
}

// importListCSV stores b into list name and wakes its campaigns; problems
// with the file are *inputProblem for field "file".
func (s *server) importListCSV(c *gin.Context, name string, b []byte, replace bool) (recipients.ContactList, recipients.Result, error) {
	meta, res, err := s.contactLists().ImportCSV(c.Request.Context(), name, bytes.NewReader(b), recipients.CSVOptions{Region: s.defaultCountry()}, replace)
	switch {
	case errors.Is(err, recipients.ErrNoPhoneColumn):
		return meta, res, problem("file", "no_phone_column", "campaign.err.csv_no_phone")
	case errors.Is(err, recipients.ErrTooMany):
		return meta, res, problem("file", "too_many", "lists.err.too_many", recipients.MaxListContacts)
	case err != nil:
		return meta, res, problem("file", "unreadable", "campaign.err.csv_read", err.Error())
	}
	s.audit(c, "contact_list.import", name)
	s.listChanged(name)
	res.Invalid = nonNil(res.Invalid)
	return meta, res, nil
}

func (s *server) deleteContactListPage(c *gin.Context) {
	err := s.contactLists().Delete(c.Request.Context(), c.Param("name"))
	switch {
	case errors.Is(err, recipients.ErrNoList):
		s.flash(c, "contacts.err.not_found")
	case err != nil:
		s.log.Error("delete contact list", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	default:
		s.audit(c, "contact_list.delete", c.Param("name"))
		s.flash(c, "contacts.deleted")
	}
	c.Redirect(http.StatusSeeOther, "/contacts/lists")
}

func (s *server) contactListRoutes(p *gin.RouterGroup) {
	p.GET("/contacts/lists", s.contactListsPage)
	p.POST("/contacts/lists", s.importContactList)
	p.POST("/contacts/lists/:name/delete", s.requireRole(users.RoleAdmin), s.deleteContactListPage)
}

// apiContactListRoutes: GET /contact-lists, GET/DELETE
// /contact-lists/{name}, POST /contact-lists/{name}/contacts (JSON) and
// POST /contact-lists/{name}/import (CSV as multipart "file" or raw body;
// ?replace=true replaces the contacts).
func (s *server) apiContactListRoutes(g *gin.RouterGroup) {
	g.GET("/contact-lists", func(c *gin.Context) {
		ls, err := s.contactLists().All(c.Request.Context())
		if err != nil {
			apiError(c, http.StatusInternalServerError, "internal", "reading the contact lists failed; see the pbxgate log", "")
			return
		}
		c.JSON(http.StatusOK, pageOf(nonNil(ls), 0, max(1, len(ls))))
	})
	g.GET("/contact-lists/:name", s.apiContactList)
	g.DELETE("/contact-lists/:name", s.requireRole(users.RoleAdmin), func(c *gin.Context) {
		err := s.contactLists().Delete(c.Request.Context(), c.Param("name"))
		switch {
		case errors.Is(err, recipients.ErrNoList):
			apiError(c, http.StatusNotFound, "not_found", "no contact list with this name", "")
		case err != nil:
			apiError(c, http.StatusInternalServerError, "internal", "deleting the contact list failed; see the pbxgate log", "")
		default:
			s.audit(c, "contact_list.delete", c.Param("name"))
			c.Status(http.StatusNoContent)
		}
	})
	g.POST("/contact-lists/:name/contacts", s.apiAddListContacts)
	g.POST("/contact-lists/:name/import", s.apiImportListCSV)
}

func (s *server) apiContactList(c *gin.Context) {
	offset, limit, ok := pagination(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	l := s.contactLists()
	meta, err := l.Get(ctx, c.Param("name"))
	if errors.Is(err, recipients.ErrNoList) {
		apiError(c, http.StatusNotFound, "not_found", "no contact list with this name", "")
		return
	}
	cs, err2 := l.Contacts(ctx, meta.Name, 0)
	if err != nil || err2 != nil {
		apiError(c, http.StatusInternalServerError, "internal", "reading the contact list failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, struct {
		recipients.ContactList
		Items page[recipients.Contact] `json:"contacts"`
	}{meta, pageOf(nonNil(cs), offset, limit)})
}

// apiListContact is one contact to add: its number and other columns.
type apiListContact struct {
	Number string            `json:"number"`
	Fields map[string]string `json:"fields"`
}

func (s *server) apiAddListContacts(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
	var req struct {
		Contacts []apiListContact `json:"contacts"`
	}
	if apiBodyErr(c, c.ShouldBindJSON(&req), "bad_json", "request body is not valid JSON: {\"contacts\": [{\"number\": …, \"fields\": {…}}]}") {
		return
	}
	name := strings.TrimSpace(c.Param("name"))
	if p := contactNameProblem(name); p != nil {
		s.apiProblem(c, p)
		return
	}
	if len(req.Contacts) == 0 {
		apiError(c, http.StatusUnprocessableEntity, "required", "contacts must list at least one contact", "contacts")
		return
	}
	in := make([]recipients.Recipient, len(req.Contacts))
	for i, k := range req.Contacts {
		in[i] = recipients.Recipient{Number: k.Number, Vars: k.Fields, Line: i + 1}
	}
	meta, res, err := s.contactLists().Append(c.Request.Context(), name, in, s.defaultCountry())
	switch {
	case errors.Is(err, recipients.ErrTooMany):
		apiError(c, http.StatusUnprocessableEntity, "too_many", err.Error(), "contacts")
		return
	case err != nil:
		s.log.Error("api: add contacts", "list", name, "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "adding the contacts failed; see the pbxgate log", "")
		return
	}
	s.audit(c, "contact_list.add", name+": "+strconv.Itoa(len(res.Valid)))
	s.listChanged(name)
	c.JSON(http.StatusCreated, gin.H{"list": meta, "added": len(res.Valid), "duplicates": nonNil(res.Duplicates), "invalid": nonNil(res.Invalid)})
}

func (s *server) apiImportListCSV(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
	var b []byte
	var err error
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		b, err = readUpload(c)
	} else {
		b, err = readTextBody(c.Request.Body)
	}
	name := strings.TrimSpace(c.Param("name"))
	if p := contactNameProblem(name); p != nil {
		s.apiProblem(c, p)
		return
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errUploadMissing):
		s.apiProblem(c, problem("file", "required", "campaign.err.csv_missing"))
		return
	case errors.As(err, &tooBig):
		apiError(c, http.StatusRequestEntityTooLarge, "too_large", "the file is larger than 16 MB", "file")
		return
	case err != nil:
		s.apiProblem(c, problem("file", "not_text", "campaign.err.csv_type"))
		return
	}
	replace, _ := strconv.ParseBool(c.Query("replace"))
	meta, res, err := s.importListCSV(c, name, b, replace)
	var p *inputProblem
	switch {
	case errors.As(err, &p):
		s.apiProblem(c, p)
	case err != nil:
		apiError(c, http.StatusInternalServerError, "internal", "the import failed; see the pbxgate log", "")
	default:
		c.JSON(http.StatusCreated, gin.H{"list": meta, "added": len(res.Valid), "duplicates": nonNil(res.Duplicates), "invalid": res.Invalid})
	}
}

// listFormSlots is how many filter rows the campaign form offers (the
// API takes any number).
const listFormSlots = 4

// readListSourceForm reads the campaign form's contact list fields (nil:
// no list chosen). Problems are set on v.Errors["list"].
func (s *server) readListSourceForm(c *gin.Context, v *view) *campaign.ListSource {
	name := strings.TrimSpace(c.PostForm("list"))
	v.Form["list"] = name
	v.Form["always_running"] = c.PostForm("always_running")
	for i := 1; i <= listFormSlots; i++ {
		n := strconv.Itoa(i)
		for _, k := range []string{"filter_col_", "filter_op_", "filter_val_", "filter_num_", "sort_col_", "sort_dir_", "sort_num_"} {
			v.Form[k+n] = c.PostForm(k + n)
		}
	}
	if name == "" {
		return nil
	}
	src := &campaign.ListSource{Name: name, AlwaysRunning: c.PostForm("always_running") != ""}
	for i := 1; i <= listFormSlots; i++ {
		n := strconv.Itoa(i)
		if col := strings.TrimSpace(c.PostForm("filter_col_" + n)); col != "" {
			src.Query.Filters = append(src.Query.Filters, recipients.Filter{Column: col, Op: c.PostForm("filter_op_" + n),
				Value: strings.TrimSpace(c.PostForm("filter_val_" + n)), Numeric: c.PostForm("filter_num_"+n) != ""})
		}
		if col := strings.TrimSpace(c.PostForm("sort_col_" + n)); col != "" {
			src.Query.Sort = append(src.Query.Sort, recipients.SortKey{Column: col, Descending: c.PostForm("sort_dir_"+n) == "desc",
				Numeric: c.PostForm("sort_num_"+n) != ""})
		}
	}
	if _, err := s.contactLists().Get(c.Request.Context(), name); err != nil {
		v.Errors["list"] = v.T("lists.err.not_found", name)
		return src
	}
	if err := src.Query.Validate(); err != nil {
		v.Errors["list"] = v.Reason(message.ReasonOf(err), err.Error())
	}
	return src
}

// apiListProblem checks an API campaign's list source; false: it answered.
func (s *server) apiListProblem(c *gin.Context, src *campaign.ListSource) bool {
	if src == nil {
		return true
	}
	if _, err := s.contactLists().Get(c.Request.Context(), src.Name); err != nil {
		apiError(c, http.StatusUnprocessableEntity, "not_found", s.cat.T(i18n.EN, "lists.err.not_found", src.Name), "list")
		return false
	}
	if err := src.Query.Validate(); err != nil {
		apiError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "list")
		return false
	}
	return true
}

// ListSlots numbers the campaign form's filter and sort rows.
func (d campaignFormData) ListSlots() []string {
	out := make([]string, listFormSlots)
	for i := range out {
		out[i] = strconv.Itoa(i + 1)
	}
	return out
}

// ListOps are the filter operators the form offers.
func (d campaignFormData) ListOps() []string {
	return []string{recipients.OpEquals, recipients.OpContains, recipients.OpLess, recipients.OpGreater, recipients.OpEmpty, recipients.OpNotEmpty}
}
