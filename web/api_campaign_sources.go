package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// The API takes a campaign's recipients from the same sources as the
// portal's campaign form (gatherRecipients): numbers, CSV, phonebook and
// subscriber group.

// readAPICampaignRequest reads a campaign as JSON, or as multipart with
// the JSON in part "campaign" and the CSV file in part "file". csvFile is
// the CSV (nil: none) and csvField the name its problems are reported
// under ("csv" or "file"); false: it answered.
func (s *server) readAPICampaignRequest(c *gin.Context) (req apiCampaignRequest, csvFile func() (io.ReadCloser, error), csvField string, ok bool) {
	// Like a portal form with a CSV (formLimit): the file plus the rest.
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
	csvField = "csv"
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		if apiBodyErr(c, c.Request.ParseMultipartForm(32<<20), "invalid", "unreadable multipart body") {
			return req, nil, "", false
		}
		b, err := multipartJSON(c.Request.MultipartForm, "campaign")
		if err == nil {
			err = json.Unmarshal(b, &req)
		}
		if apiBodyErr(c, err, "bad_json", "part \"campaign\" is not valid JSON for a campaign") {
			return req, nil, "", false
		}
		if fh, err := c.FormFile("file"); err == nil {
			if req.CSV != "" {
				apiError(c, http.StatusUnprocessableEntity, "invalid", "give the CSV either as the file part or as \"csv\", not both", "file")
				return req, nil, "", false
			}
			csvFile, csvField = func() (io.ReadCloser, error) { return openCSV(fh) }, "file"
		}
	} else if apiBodyErr(c, c.ShouldBindJSON(&req), "bad_json", "request body is not valid JSON for a campaign") {
		return req, nil, "", false
	}
	if req.CSV != "" {
		text := req.CSV
		csvFile = func() (io.ReadCloser, error) { return openCSVText(text) }
	}
	return req, csvFile, csvField, true
}

// multipartJSON is part name of form, sent as a field or as a file.
func multipartJSON(form *multipart.Form, name string) ([]byte, error) {
	if v := form.Value[name]; len(v) > 0 {
		return []byte(v[0]), nil
	}
	if fs := form.File[name]; len(fs) > 0 {
		f, err := fs[0].Open()
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	return nil, fmt.Errorf("no part %q", name)
}

// apiBodyErr answers a body that could not be read: 413 when too large,
// else 400 with code and what; false when err is nil.
func apiBodyErr(c *gin.Context, err error, code, what string) bool {
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return false
	case errors.As(err, &tooBig):
		bodyTooLarge(c, err)
	default:
		apiError(c, http.StatusBadRequest, code, what+": "+err.Error(), "")
	}
	return true
}

// skippedAs names the CSV's problems csvField.
func skippedAs(ps []recipients.FieldProblem, csvField string) []recipients.FieldProblem {
	for i := range ps {
		if ps[i].Field == "csv" {
			ps[i].Field = csvField
		}
	}
	return ps
}

// apiRecipientsAccepted answers the sources' first problem as the form
// shows it (invalid rows and excluded members listed in "problems");
// false: it answered.
func (s *server) apiRecipientsAccepted(c *gin.Context, rs recipients.Gathered, probs []*inputProblem, csvField string) bool {
	if len(probs) == 0 {
		return true
	}
	p := probs[0]
	field := p.Field
	if field == "csv" {
		field = csvField
	}
	msg := s.cat.T(i18n.EN, p.Key, p.Args...)
	switch p.Code {
	case "internal":
		apiError(c, http.StatusInternalServerError, "internal", "reading the recipients failed; see the pbxgate log", field)
		return false
	case "invalid_rows", "group_excluded":
		skipped := skippedAs(rs.Skipped(), csvField)
		if p.Code == "invalid_rows" { // the form says it under numbers
			field = skipped[0].Field
		}
		msg = fmt.Sprintf("%d recipients are invalid or may not be messaged (see problems; first: %s); fix them or set \"skip_invalid\": true to send to the others",
			len(skipped), skipped[0].String())
		body := apiErrorBody(p.Code, msg, field)
		body["error"].(gin.H)["problems"] = skipped
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, body)
		return false
	}
	apiError(c, http.StatusUnprocessableEntity, p.Code, msg, field)
	return false
}

// apiCSVPreview is POST /campaigns/preview-csv: the campaign form's CSV
// preview.
type apiCSVPreview struct {
	*recipients.Preview
	Valid      int                  `json:"valid"`
	Invalid    int                  `json:"invalid"`
	Duplicates int                  `json:"duplicates"`
	Problems   []recipients.Problem `json:"problems"`
	// FileProblem is why a campaign would refuse the file as a whole (no
	// phone column, too many numbers).
	FileProblem *apiFileProblem `json:"file_problem,omitempty"`
}

type apiFileProblem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiPreviewCSV previews a CSV as the campaign form does: JSON
// {"csv": text, "phone_columns": [...]} or multipart part "file" (and
// fields "phone_columns").
func (s *server) apiPreviewCSV(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
	var req struct {
		CSV          string   `json:"csv"`
		PhoneColumns []string `json:"phone_columns"`
	}
	var open func() (io.ReadCloser, error)
	field := "csv"
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		field = "file"
		if apiBodyErr(c, c.Request.ParseMultipartForm(32<<20), "invalid", "unreadable multipart body") {
			return
		}
		if fh, err := c.FormFile("file"); err == nil {
			open = func() (io.ReadCloser, error) { return openCSV(fh) }
		}
		req.PhoneColumns = c.PostFormArray("phone_columns")
	} else {
		if apiBodyErr(c, c.ShouldBindJSON(&req), "bad_json", "request body is not valid JSON: give {\"csv\": \"…\"}") {
			return
		}
		if req.CSV != "" {
			open = func() (io.ReadCloser, error) { return openCSVText(req.CSV) }
		}
	}
	if open == nil {
		s.apiProblem(c, problem(field, "required", "campaign.err.csv_missing"))
		return
	}
	pv, p := previewCSV(open, recipients.CSVOptions{Region: s.defaultCountry(), PhoneColumns: req.PhoneColumns})
	if pv.Preview == nil { // not a text file
		p.Field = field
		s.apiProblem(c, p)
		return
	}
	out := apiCSVPreview{Preview: pv.Preview, Valid: pv.Valid, Invalid: len(pv.Problems), Duplicates: pv.Duplicates, Problems: nonNil(pv.Problems)}
	if p != nil {
		out.FileProblem = &apiFileProblem{Code: p.Code, Message: s.cat.T(i18n.EN, p.Key, p.Args...)}
	}
	out.Columns, out.Rows = nonNil(out.Columns), nonNil(out.Rows)
	c.JSON(http.StatusOK, out)
}
