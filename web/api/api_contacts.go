package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// APIImportContacts takes a CSV or vCard file as multipart (fields "name"
// and "file", as the portal's form) or as the raw body with ?name=.
func (s *API) APIImportContacts(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxUpload)
		name := strings.TrimSpace(c.Query("name"))
		if strings.HasPrefix(c.ContentType(), "multipart/") {
			name = strings.TrimSpace(c.PostForm("name"))
		}
		b, ok := s.readContactFile(c, name)
		if !ok {
			return
		}
		res, err := s.ImportContactFile(c, kind, name, b)
		var p *app.InputProblem
		switch {
		case errors.As(err, &p):
			s.APIProblem(c, p)
		case err != nil:
			s.Log.Error("api: import contacts", "kind", kind, "err", err)
			app.APIError(c, http.StatusInternalServerError, "internal", "the import failed; see the pbxgate log", "")
		default:
			c.JSON(http.StatusCreated, res)
		}
	}
}

// readContactFile reads an import's file, multipart (field "file") or the
// raw body (within the caller's app.MaxUpload), for the list called name;
// false: it answered the problem.
func (s *API) readContactFile(c *gin.Context, name string) ([]byte, bool) {
	var b []byte
	var err error
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		b, err = app.ReadUpload(c)
	} else {
		b, err = app.ReadTextBody(c.Request.Body)
	}
	if p := app.ContactNameProblem(name); p != nil {
		s.APIProblem(c, p)
		return nil, false
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, app.ErrUploadMissing):
		s.APIProblem(c, app.Problem("file", "required", "campaign.err.csv_missing"))
		return nil, false
	case errors.As(err, &tooBig):
		app.APIError(c, http.StatusRequestEntityTooLarge, "too_large", "the file is larger than 16 MB", "file")
		return nil, false
	case err != nil:
		s.APIProblem(c, app.Problem("file", "not_text", "campaign.err.csv_type"))
		return nil, false
	}
	return b, true
}

func (s *API) apiContactsErr(c *gin.Context, err error, what string) {
	if errors.Is(err, recipients.ErrNoList) {
		app.APIError(c, http.StatusNotFound, "not_found", "no "+what+" with this name", "")
		return
	}
	s.Log.Error("api: contacts", "err", err)
	app.APIError(c, http.StatusInternalServerError, "internal", "reading the "+what+" failed; see the pbxgate log", "")
}

// APIPhonebook is one phonebook with a page of its entries.
func (s *API) APIPhonebook(c *gin.Context) {
	offset, limit, ok := app.Pagination(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	pbs := recipients.NewPhonebooks(s.D.Store)
	pb, err := pbs.Get(ctx, c.Param("name"))
	if err != nil {
		s.apiContactsErr(c, err, "phonebook")
		return
	}
	entries, err := pbs.Entries(ctx, pb.Name)
	if err != nil {
		s.apiContactsErr(c, err, "phonebook")
		return
	}
	c.JSON(http.StatusOK, struct {
		Phonebook recipients.Phonebook `json:"phonebook"`
		app.Page[recipients.Entry]
	}{pb, app.PageOf(entries, offset, limit)})
}

func (s *API) APIDNCList(c *gin.Context) {
	l, err := recipients.NewLists(s.D.Store).Get(c.Request.Context(), c.Param("name"))
	if err != nil {
		s.apiContactsErr(c, err, "do-not-contact list")
		return
	}
	c.JSON(http.StatusOK, l)
}

func (s *API) APIDeleteContacts(kind string) gin.HandlerFunc {
	what := map[string]string{"phonebook": "phonebook", "dnc": "do-not-contact list", "list": "contact list"}[kind]
	return func(c *gin.Context) {
		if err := s.DeleteContactList(c, kind, c.Param("name")); err != nil {
			s.apiContactsErr(c, err, what)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

func (s *API) apiConsentReady(c *gin.Context) bool {
	return apiHas(c, s.D.Consent != nil, "the blacklist is")
}

func (s *API) APIBlacklist(c *gin.Context) {
	if s.apiConsentReady(c) {
		app.APIPage(c, s.D.Consent.Blacklist(c.Request.Context()))
	}
}

func (s *API) APIOptOuts(c *gin.Context) {
	if s.apiConsentReady(c) {
		app.APIPage(c, s.D.Consent.OptOuts(c.Request.Context()))
	}
}

// apiBlockRequest is POST /api/v1/blacklist: entry as in the portal
// (a number, or a prefix ending in "*"), or number or prefix.
type apiBlockRequest struct {
	Entry     string `json:"entry"`
	Number    string `json:"number"`
	Prefix    string `json:"prefix"`
	Direction string `json:"direction"`
	Reason    string `json:"reason"`
	Days      *int   `json:"days"`
}

func (s *API) APIBlock(c *gin.Context) {
	if !s.apiConsentReady(c) {
		return
	}
	var req apiBlockRequest
	if !app.BindJSON(c, &req, `{"entry":"+49900*","direction":"send","reason":"…","days":30}`) {
		return
	}
	entry, given := req.Entry, 0
	for _, v := range []string{req.Entry, req.Number, req.Prefix} {
		if strings.TrimSpace(v) != "" {
			given++
		}
	}
	switch {
	case given > 1:
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "give one of entry, number or prefix", "entry")
		return
	case req.Number != "":
		entry = req.Number
	case req.Prefix != "":
		entry = strings.TrimSuffix(strings.TrimSpace(req.Prefix), "*") + "*"
	}
	days := ""
	if req.Days != nil {
		days = strconv.Itoa(*req.Days)
	}
	saved, err := s.BlockEntry(c, entry, req.Direction, req.Reason, days)
	var p *app.InputProblem
	switch {
	case errors.As(err, &p):
		s.APIProblem(c, p)
	case err != nil:
		s.Log.Error("api: blacklist add", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "blocking failed; see the pbxgate log", "")
	default:
		c.JSON(http.StatusCreated, saved)
	}
}

func (s *API) APIUnblock(c *gin.Context) {
	if !s.apiConsentReady(c) {
		return
	}
	err := s.Unblock(c, c.Param("id"))
	switch {
	case errors.Is(err, consent.ErrNotFound):
		app.APIError(c, http.StatusNotFound, "not_found", "no blacklist entry with this id", "")
	case err != nil:
		s.Log.Error("api: blacklist remove", "err", err)
		app.APIError(c, http.StatusInternalServerError, "internal", "unblocking failed; see the pbxgate log", "")
	default:
		c.Status(http.StatusNoContent)
	}
}

func (s *API) APIPhonebooks(c *gin.Context) {
	list, err := recipients.NewPhonebooks(s.D.Store).All(c.Request.Context())
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "listing phonebooks failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, app.Page[recipients.Phonebook]{Items: app.NonNil(list), Total: len(list), Limit: len(list)})
}

func (s *API) APIDNCLists(c *gin.Context) {
	list, err := recipients.NewLists(s.D.Store).All(c.Request.Context())
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "listing do-not-contact lists failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, app.Page[recipients.DNCList]{Items: app.NonNil(list), Total: len(list), Limit: len(list)})
}
