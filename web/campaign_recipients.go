package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// recipientSources are where a campaign's recipients come from, as the
// portal's campaign form and the API take them: typed numbers, a CSV file,
// a phonebook by number type and a subscriber group.
type recipientSources struct {
	Numbers string // typed or pasted, one or more a line
	// CSV opens the checked CSV file; nil: no file.
	CSV func() (io.ReadCloser, error)
	// PhoneColumns chooses the CSV's phone columns (empty: detected).
	PhoneColumns []string
	Phonebook    string
	NumberTypes  []recipients.NumberType
	Group        string
	// SkipInvalid is the form's "skip invalid rows": invalid rows and the
	// group's excluded members are left out instead of refusing.
	SkipInvalid bool
	// Edit: no recipients keep the campaign's old ones.
	Edit bool
	// List: a contact list gives the recipients (contactlists.go).
	List bool
	// ChatIDs: Numbers are a Telegram bot's chat ids, not phone numbers.
	ChatIDs bool
}

// recipientProblem is an invalid row or an excluded group member, with the
// source it came from ("numbers", "csv", "phonebook", "group").
type recipientProblem struct {
	Field string `json:"field"`
	recipients.Problem
}

// campaignRecipients is what the sources gave.
type campaignRecipients struct {
	Valid []recipients.Recipient
	// Invalid are the rows that could not be read, in source order.
	Invalid []recipientProblem
	// Excluded are the group's members who may not be messaged now.
	Excluded []recipientProblem
	// Problems refuse the sources, at most one a field ("numbers", "csv",
	// "phonebook", "number_type", "group"), in the form's order. Code
	// "internal" is a failure the log explains.
	Problems []*inputProblem
}

// set records p as its field's problem, replacing an earlier one (as the
// form shows one message a field).
func (r *campaignRecipients) set(p *inputProblem) {
	for i, q := range r.Problems {
		if q.Field == p.Field {
			r.Problems[i] = p
			return
		}
	}
	r.Problems = append(r.Problems, p)
}

func (r *campaignRecipients) has(field string) bool {
	for _, p := range r.Problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

// Skipped are the invalid rows and excluded members, which a request with
// SkipInvalid leaves out.
func (r campaignRecipients) Skipped() []recipientProblem {
	return append(append([]recipientProblem{}, r.Invalid...), r.Excluded...)
}

func plainProblems(ps []recipientProblem) []recipients.Problem {
	var out []recipients.Problem
	for _, p := range ps {
		out = append(out, p.Problem)
	}
	return out
}

func fromSource(field string, ps []recipients.Problem) []recipientProblem {
	var out []recipientProblem
	for _, p := range ps {
		out = append(out, recipientProblem{Field: field, Problem: p})
	}
	return out
}

// campaignNumberTypes are the phonebook number types a campaign chooses
// from.
func campaignNumberTypes() []recipients.NumberType {
	return []recipients.NumberType{recipients.Mobile, recipients.Work, recipients.Home, recipients.Other}
}

// gatherRecipients reads every given source, merges them (a number in two
// sources counts once) and judges them as the campaign form does.
func (s *server) gatherRecipients(ctx context.Context, src recipientSources) campaignRecipients {
	region := s.defaultCountry()
	var out campaignRecipients
	internal := func(field, what string, err error) {
		s.log.Error("campaign recipients: "+what, "err", err)
		out.set(problem(field, "internal", "error.internal"))
	}
	var all recipients.Result
	if text := strings.TrimSpace(src.Numbers); text != "" {
		res, err := recipients.ParsePaste(text, region, 0)
		if src.ChatIDs {
			res, err = recipients.ParseIDs(text, 0) // a Telegram bot's subscribers
		}
		switch {
		case errors.Is(err, recipients.ErrTooMany):
			out.set(problem("numbers", "too_many", "campaign.err.too_many", recipients.DefaultLimit))
		case err != nil:
			internal("numbers", "typed numbers", err)
		}
		out.Invalid = append(out.Invalid, fromSource("numbers", res.Invalid)...)
		all = res
	}
	if src.CSV != nil {
		res, err := importCSV(src.CSV, recipients.CSVOptions{Region: region, PhoneColumns: src.PhoneColumns})
		if p := csvProblem(err); p != nil {
			out.set(p)
		}
		out.Invalid = append(out.Invalid, fromSource("csv", res.Invalid)...)
		all = mergeResults(all, res)
	}
	// The seeds' third source: an existing phonebook, by number type.
	if src.Phonebook != "" {
		if len(src.NumberTypes) == 0 {
			out.set(problem("number_type", "required", "campaign.err.number_type"))
		}
		res, err := recipients.NewPhonebooks(s.d.Store).Select(ctx, src.Phonebook, src.NumberTypes, 0)
		switch {
		case errors.Is(err, recipients.ErrNoList):
			out.set(problem("phonebook", "not_found", "campaign.err.phonebook"))
		case errors.Is(err, recipients.ErrTooMany):
			out.set(problem("phonebook", "too_many", "campaign.err.too_many", recipients.DefaultLimit))
		case err != nil:
			internal("phonebook", "phonebook "+src.Phonebook, err)
		}
		out.Invalid = append(out.Invalid, fromSource("phonebook", res.Invalid)...)
		all = mergeResults(all, res)
	}
	// A subscriber group: the members who may be messaged now.
	if src.Group != "" {
		res, excluded, err := s.groupRecipients(ctx, src.Group, region)
		switch {
		case errors.Is(err, consent.ErrNoGroup):
			out.set(problem("group", "not_found", "campaign.err.group"))
		case err != nil:
			internal("group", "group "+src.Group, err)
		case len(excluded) > 0 && !src.SkipInvalid:
			out.set(problem("group", "group_excluded", "campaign.err.group_excluded", len(excluded)))
		}
		out.Excluded = fromSource("group", excluded)
		out.Invalid = append(out.Invalid, fromSource("group", res.Invalid)...)
		all = mergeResults(all, res)
	}
	out.Valid = all.Valid
	if len(out.Valid) > recipients.DefaultLimit {
		out.set(problem("numbers", "too_many", "campaign.err.too_many", recipients.DefaultLimit))
	}
	if !out.has("numbers") && !out.has("csv") {
		switch {
		case len(out.Invalid) > 0 && !src.SkipInvalid:
			out.set(problem("numbers", "invalid_rows", "campaign.err.invalid_rows", len(out.Invalid)))
		case len(out.Valid) == 0 && !src.Edit && !src.List:
			out.set(problem("numbers", "required", "campaign.err.no_recipients"))
		}
	}
	return out
}

// csvProblem is how the campaign form reports a CSV import's error.
func csvProblem(err error) *inputProblem {
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, recipients.ErrTooMany):
		return problem("csv", "too_many", "campaign.err.too_many", recipients.DefaultLimit)
	case errors.Is(err, recipients.ErrNoPhoneColumn):
		return problem("csv", "no_phone_column", "campaign.err.csv_no_phone")
	case errors.Is(err, errNotCSV):
		return problem("csv", "not_text", "campaign.err.csv_type")
	case errors.As(err, &tooBig):
		return problem("csv", "too_large", "campaign.err.csv_type")
	}
	return problem("csv", "unreadable", "campaign.err.csv_read", err.Error())
}

// importCSV imports the file open gives.
func importCSV(open func() (io.ReadCloser, error), o recipients.CSVOptions) (recipients.Result, error) {
	r, err := open()
	if err != nil {
		return recipients.Result{}, err
	}
	defer r.Close()
	return recipients.ImportCSV(r, o)
}

// openCSVText opens CSV text given inline (the API's "csv") after the
// checks openCSV makes of an uploaded file.
func openCSVText(text string) (io.ReadCloser, error) {
	b, err := readTextBody(strings.NewReader(text))
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

// previewCSV previews the file open gives; the problem (field "csv") is why
// the file cannot be used as a whole, the preview is still filled as far as
// the file could be read.
func previewCSV(open func() (io.ReadCloser, error), o recipients.CSVOptions) (csvPreview, *inputProblem) {
	var out csvPreview
	r, err := open()
	if err != nil {
		return out, problem("csv", "not_text", "campaign.err.csv_type")
	}
	p, perr := recipients.PreviewCSV(r, o, previewCSVRows)
	r.Close()
	out.Preview = &p
	var prob *inputProblem
	if errors.Is(perr, recipients.ErrNoPhoneColumn) {
		prob = problem("csv", "no_phone_column", "campaign.err.csv_no_phone")
	}
	res, ierr := importCSV(open, o)
	if errors.Is(ierr, recipients.ErrTooMany) {
		prob = problem("csv", "too_many", "campaign.err.too_many", recipients.DefaultLimit)
	}
	out.Valid, out.Problems, out.Duplicates = len(res.Valid), res.Invalid, len(res.Duplicates)
	return out, prob
}
