package web

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// apiImportContacts takes a CSV or vCard file as multipart (fields "name"
// and "file", as the portal's form) or as the raw body with ?name=.
func (s *server) apiImportContacts(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
		var name string
		var b []byte
		var err error
		if strings.HasPrefix(c.ContentType(), "multipart/") {
			name = strings.TrimSpace(c.PostForm("name"))
			b, err = readUpload(c)
		} else {
			name = strings.TrimSpace(c.Query("name"))
			b, err = readTextBody(c.Request.Body)
		}
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
		res, err := s.importContactFile(c, kind, name, b)
		var p *inputProblem
		switch {
		case errors.As(err, &p):
			s.apiProblem(c, p)
		case err != nil:
			s.log.Error("api: import contacts", "kind", kind, "err", err)
			apiError(c, http.StatusInternalServerError, "internal", "the import failed; see the pbxgate log", "")
		default:
			c.JSON(http.StatusCreated, res)
		}
	}
}

// readTextBody reads a raw upload of at most recipients.MaxFileSize bytes
// that must be text, as openCSV checks a form's file.
func readTextBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, recipients.MaxFileSize+1))
	switch {
	case err != nil:
		return nil, err
	case len(b) == 0:
		return nil, errUploadMissing
	case len(b) > recipients.MaxFileSize:
		return nil, &http.MaxBytesError{Limit: recipients.MaxFileSize}
	case !strings.HasPrefix(http.DetectContentType(b[:min(len(b), 512)]), "text/"):
		return nil, errNotCSV
	}
	return b, nil
}

func (s *server) apiContactsErr(c *gin.Context, err error, what string) {
	if errors.Is(err, recipients.ErrNoList) {
		apiError(c, http.StatusNotFound, "not_found", "no "+what+" with this name", "")
		return
	}
	s.log.Error("api: contacts", "err", err)
	apiError(c, http.StatusInternalServerError, "internal", "reading the "+what+" failed; see the pbxgate log", "")
}

// apiPhonebook is one phonebook with a page of its entries.
func (s *server) apiPhonebook(c *gin.Context) {
	offset, limit, ok := pagination(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	pbs := recipients.NewPhonebooks(s.d.Store)
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
		page[recipients.Entry]
	}{pb, pageOf(entries, offset, limit)})
}

func (s *server) apiDNCList(c *gin.Context) {
	l, err := recipients.NewLists(s.d.Store).Get(c.Request.Context(), c.Param("name"))
	if err != nil {
		s.apiContactsErr(c, err, "do-not-contact list")
		return
	}
	c.JSON(http.StatusOK, l)
}

func (s *server) apiDeleteContacts(kind string) gin.HandlerFunc {
	what := map[string]string{"phonebook": "phonebook", "dnc": "do-not-contact list"}[kind]
	return func(c *gin.Context) {
		if err := s.deleteContactList(c, kind, c.Param("name")); err != nil {
			s.apiContactsErr(c, err, what)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

func (s *server) apiConsentReady(c *gin.Context) bool {
	return apiHas(c, s.d.Consent != nil, "the blacklist is")
}

func (s *server) apiBlacklist(c *gin.Context) {
	if s.apiConsentReady(c) {
		apiPage(c, s.d.Consent.Blacklist(c.Request.Context()))
	}
}

func (s *server) apiOptOuts(c *gin.Context) {
	if s.apiConsentReady(c) {
		apiPage(c, s.d.Consent.OptOuts(c.Request.Context()))
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

func (s *server) apiBlock(c *gin.Context) {
	if !s.apiConsentReady(c) {
		return
	}
	var req apiBlockRequest
	if !bindJSON(c, &req, `{"entry":"+49900*","direction":"send","reason":"…","days":30}`) {
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
		apiError(c, http.StatusUnprocessableEntity, "invalid", "give one of entry, number or prefix", "entry")
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
	saved, err := s.blockEntry(c, entry, req.Direction, req.Reason, days)
	var p *inputProblem
	switch {
	case errors.As(err, &p):
		s.apiProblem(c, p)
	case err != nil:
		s.log.Error("api: blacklist add", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "blocking failed; see the pbxgate log", "")
	default:
		c.JSON(http.StatusCreated, saved)
	}
}

func (s *server) apiUnblock(c *gin.Context) {
	if !s.apiConsentReady(c) {
		return
	}
	err := s.unblock(c, c.Param("id"))
	switch {
	case errors.Is(err, consent.ErrNotFound):
		apiError(c, http.StatusNotFound, "not_found", "no blacklist entry with this id", "")
	case err != nil:
		s.log.Error("api: blacklist remove", "err", err)
		apiError(c, http.StatusInternalServerError, "internal", "unblocking failed; see the pbxgate log", "")
	default:
		c.Status(http.StatusNoContent)
	}
}

func (s *server) apiPhonebooks(c *gin.Context) {
	list, err := recipients.NewPhonebooks(s.d.Store).All(c.Request.Context())
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "listing phonebooks failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, page[recipients.Phonebook]{Items: nonNil(list), Total: len(list), Limit: len(list)})
}

func (s *server) apiDNCLists(c *gin.Context) {
	list, err := recipients.NewLists(s.d.Store).All(c.Request.Context())
	if err != nil {
		apiError(c, http.StatusInternalServerError, "internal", "listing do-not-contact lists failed; see the pbxgate log", "")
		return
	}
	c.JSON(http.StatusOK, page[recipients.DNCList]{Items: nonNil(list), Total: len(list), Limit: len(list)})
}
