package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// GatherRecipients reads a campaign's recipient sources (one function for
// the portal's form and the API: recipients.Gatherer) and turns the
// sources' problems into the form's messages.
func (s *Server) GatherRecipients(ctx context.Context, src recipients.Sources) (recipients.Gathered, []*InputProblem) {
	g := recipients.Gatherer{Store: s.D.Store, Region: s.DefaultCountry(), Group: s.groupSource()}
	rs := g.Gather(ctx, src)
	probs := make([]*InputProblem, 0, len(rs.Problems))
	for _, p := range rs.Problems {
		probs = append(probs, s.sourceProblem(p))
	}
	return rs, probs
}

// sourceProblem is how the campaign form says p.
func (s *Server) sourceProblem(p recipients.SourceProblem) *InputProblem {
	switch p.Code {
	case "too_many":
		return Problem(p.Field, p.Code, "campaign.err.too_many", p.Count)
	case "not_found":
		if p.Field == "group" {
			return Problem(p.Field, p.Code, "campaign.err.group")
		}
		return Problem(p.Field, p.Code, "campaign.err.phonebook")
	case "required":
		if p.Field == "number_type" {
			return Problem(p.Field, p.Code, "campaign.err.number_type")
		}
		return Problem(p.Field, p.Code, "campaign.err.no_recipients")
	case "invalid_rows":
		return Problem(p.Field, p.Code, "campaign.err.invalid_rows", p.Count)
	case "group_excluded":
		return Problem(p.Field, p.Code, "campaign.err.group_excluded", p.Count)
	case "no_phone_column":
		return Problem(p.Field, p.Code, "campaign.err.csv_no_phone")
	case "unreadable":
		ip := csvProblem(p.Err)
		if FileUnreadable(ip) {
			s.Log.Warn("campaign recipients: CSV file unreadable", "err", p.Err)
		}
		return ip
	}
	s.Log.Error("campaign recipients", "field", p.Field, "err", p.Err)
	return Problem(p.Field, "internal", "error.internal")
}

// groupSource reads subscriber groups for the gatherer; nil without the
// consent service.
func (s *Server) groupSource() recipients.GroupSource {
	if s.D.Consent == nil {
		return nil
	}
	return func(ctx context.Context, group string) ([]recipients.Recipient, []recipients.Problem, error) {
		send, excluded, err := s.D.Consent.Recipients(ctx, group)
		if errors.Is(err, consent.ErrNoGroup) {
			return nil, nil, fmt.Errorf("%w: %w", recipients.ErrNoList, err)
		}
		if err != nil {
			return nil, nil, err
		}
		problems := make([]recipients.Problem, 0, len(excluded))
		for _, m := range excluded {
			problems = append(problems, recipients.Problem{Input: m.Number, Reason: m.Excluded, ReasonCode: m.ExcludedCode})
		}
		return send, problems, nil
	}
}

// csvProblem is how the campaign form reports a CSV import's error.
func csvProblem(err error) *InputProblem {
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, recipients.ErrTooMany):
		return Problem("csv", "too_many", "campaign.err.too_many", recipients.DefaultLimit)
	case errors.Is(err, recipients.ErrNoPhoneColumn):
		return Problem("csv", "no_phone_column", "campaign.err.csv_no_phone")
	case errors.Is(err, errNotCSV):
		return Problem("csv", "not_text", "campaign.err.csv_type")
	case errors.As(err, &tooBig):
		return Problem("csv", "too_large", "campaign.err.csv_type")
	}
	return FileProblem("csv", err)
}

// OpenCSVText opens CSV text given inline (the API's "csv") after the
// checks openCSV makes of an uploaded file.
func OpenCSVText(text string) (io.ReadCloser, error) {
	b, err := ReadTextBody(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// csvPreview is the campaign form's CSV preview: the detected layout, the
// first rows and how the import would go.
type csvPreview struct {
	Preview    *recipients.Preview
	Valid      int
	Problems   []recipients.Problem
	Duplicates int
}

// previewCSVRows is how many rows the preview shows.
const previewCSVRows = 5

// PreviewCSV previews the file open gives; the problem (field "csv") is why
// the file cannot be used as a whole, the preview is still filled as far as
// the file could be read.
func PreviewCSV(open func() (io.ReadCloser, error), o recipients.CSVOptions) (csvPreview, *InputProblem) {
	var out csvPreview
	r, err := open()
	if err != nil {
		return out, Problem("csv", "not_text", "campaign.err.csv_type")
	}
	p, perr := recipients.PreviewCSV(r, o, previewCSVRows)
	r.Close()
	out.Preview = &p
	var prob *InputProblem
	if errors.Is(perr, recipients.ErrNoPhoneColumn) {
		prob = Problem("csv", "no_phone_column", "campaign.err.csv_no_phone")
	}
	res, ierr := recipients.ImportFile(open, o)
	if errors.Is(ierr, recipients.ErrTooMany) {
		prob = Problem("csv", "too_many", "campaign.err.too_many", recipients.DefaultLimit)
	}
	out.Valid, out.Problems, out.Duplicates = len(res.Valid), res.Invalid, len(res.Duplicates)
	return out, prob
}
