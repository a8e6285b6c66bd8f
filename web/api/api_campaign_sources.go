package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// readAPICampaignRequest reads a campaign as JSON, or as multipart with
// the JSON in part "campaign" and the CSV file in part "file". csvFile is
// the CSV (nil: none) and csvField the name its problems are reported
// under ("csv" or "file"); false: it answered.
func (s *API) readAPICampaignRequest(c *gin.Context) (req apiCampaignRequest, csvFile func() (io.ReadCloser, error), csvField string, ok bool) {
	// Like a portal form with a CSV (formLimit): the file plus the rest.
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxUpload)
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
				app.APIError(c, http.StatusUnprocessableEntity, "invalid", "give the CSV either as the file part or as \"csv\", not both", "file")
				return req, nil, "", false
			}
			csvFile, csvField = func() (io.ReadCloser, error) { return app.OpenCSV(fh) }, "file"
		}
	} else if apiBodyErr(c, c.ShouldBindJSON(&req), "bad_json", "request body is not valid JSON for a campaign") {
		return req, nil, "", false
	}
	if req.CSV != "" {
		text := req.CSV
		csvFile = func() (io.ReadCloser, error) { return app.OpenCSVText(text) }
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
		app.BodyTooLarge(c, err)
	default:
		app.APIError(c, http.StatusBadRequest, code, what+": "+err.Error(), "")
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
func (s *API) apiRecipientsAccepted(c *gin.Context, rs recipients.Gathered, probs []*app.InputProblem, csvField string) bool {
	if len(probs) == 0 {
		return true
	}
	p := probs[0]
	field := p.Field
	if field == "csv" {
		field = csvField
	}
	msg := s.Cat.T(i18n.EN, p.Key, p.Args...)
	switch p.Code {
	case "internal":
		app.APIError(c, http.StatusInternalServerError, "internal", "reading the recipients failed; see the pbxgate log", field)
		return false
	case "invalid_rows", "group_excluded":
		skipped := skippedAs(rs.Skipped(), csvField)
		if p.Code == "invalid_rows" { // the form says it under numbers
			field = skipped[0].Field
		}
		msg = fmt.Sprintf("%d recipients are invalid or may not be messaged (see problems; first: %s); fix them or set \"skip_invalid\": true to send to the others",
			len(skipped), skipped[0].String())
		body := app.APIErrorBody(p.Code, msg, field)
		body["error"].(gin.H)["problems"] = skipped
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, body)
		return false
	}
	app.APIError(c, http.StatusUnprocessableEntity, p.Code, msg, field)
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

// APIPreviewCSV previews a CSV as the campaign form does: JSON
// {"csv": text, "phone_columns": [...]} or multipart part "file" (and
// fields "phone_columns").
func (s *API) APIPreviewCSV(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxUpload)
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
			open = func() (io.ReadCloser, error) { return app.OpenCSV(fh) }
		}
		req.PhoneColumns = c.PostFormArray("phone_columns")
	} else {
		if apiBodyErr(c, c.ShouldBindJSON(&req), "bad_json", "request body is not valid JSON: give {\"csv\": \"…\"}") {
			return
		}
		if req.CSV != "" {
			open = func() (io.ReadCloser, error) { return app.OpenCSVText(req.CSV) }
		}
	}
	if open == nil {
		s.APIProblem(c, app.Problem(field, "required", "campaign.err.csv_missing"))
		return
	}
	pv, p := app.PreviewCSV(open, recipients.CSVOptions{Region: s.DefaultCountry(), PhoneColumns: req.PhoneColumns})
	if pv.Preview == nil { // not a text file
		p.Field = field
		s.APIProblem(c, p)
		return
	}
	out := apiCSVPreview{Preview: pv.Preview, Valid: pv.Valid, Invalid: len(pv.Problems), Duplicates: pv.Duplicates, Problems: app.NonNil(pv.Problems)}
	if p != nil {
		out.FileProblem = &apiFileProblem{Code: p.Code, Message: s.Cat.T(i18n.EN, p.Key, p.Args...)}
	}
	out.Columns, out.Rows = app.NonNil(out.Columns), app.NonNil(out.Rows)
	c.JSON(http.StatusOK, out)
}
