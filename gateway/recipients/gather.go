package recipients

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Sources are where a campaign's recipients come from, as the portal's
// campaign form and the API take them: typed numbers, a CSV file, a
// phonebook by number type and a subscriber group.
type Sources struct {
	Numbers string // typed or pasted, one or more a line
	// CSV opens the CSV file; nil: no file.
	CSV func() (io.ReadCloser, error)
	// PhoneColumns chooses the CSV's phone columns (empty: detected).
	PhoneColumns []string
	Phonebook    string
	NumberTypes  []NumberType
	Group        string
	// SkipInvalid leaves invalid rows and the group's excluded members out
	// instead of refusing.
	SkipInvalid bool
	// Edit: no recipients keep the campaign's old ones.
	Edit bool
	// List: a contact list gives the recipients (the campaign engine reads
	// it), so no other source is required.
	List bool
	// ChatIDs: Numbers are a Telegram bot's chat ids, not phone numbers.
	ChatIDs bool
	// IDKind: Numbers are messenger ids of this kind (viber, vk; see
	// IDKind in ids_viber_vk.go), not phone numbers.
	IDKind message.Kind
}

// CampaignNumberTypes are the phonebook number types a campaign chooses
// from.
func CampaignNumberTypes() []NumberType { return []NumberType{Mobile, Work, Home, Other} }

// GroupSource gives a subscriber group's members who may be messaged now
// (send) and the excluded ones as problems (Reason, ReasonCode say why).
// An unknown group is an error wrapping ErrNoList.
type GroupSource func(ctx context.Context, group string) (send []Recipient, excluded []Problem, err error)

// Gatherer reads the recipient sources of a campaign.
type Gatherer struct {
	Store  *store.Store // phonebooks
	Region string       // default country for numbers without one
	// Group reads subscriber groups; nil: every group is unknown.
	Group GroupSource
	// Limit is the most recipients a campaign takes (0: DefaultLimit).
	Limit int
}

// SourceProblem is a field's problem with its sources: the form shows one
// a field. Code is machine-readable; Count is its number (the limit for
// "too_many", rows for "invalid_rows", members for "group_excluded"); Err
// is the cause for "internal" and "unreadable" (a failure to log or show).
type SourceProblem struct {
	Field string // "numbers", "csv", "phonebook", "number_type", "group"
	Code  string // "too_many", "required", "not_found", "invalid_rows", "group_excluded", "no_phone_column", "unreadable", "internal"
	Count int
	Err   error
}

// FieldProblem is an invalid row or an excluded group member, with the
// source it came from ("numbers", "csv", "phonebook", "group").
type FieldProblem struct {
	Field string `json:"field"`
	Problem
}

// Gathered is what the sources gave.
type Gathered struct {
	Valid []Recipient
	// Invalid are the rows that could not be read, in source order.
	Invalid []FieldProblem
	// Excluded are the group's members who may not be messaged now.
	Excluded []FieldProblem
	// Problems refuse the sources, at most one a field, in the form's order.
	Problems []SourceProblem
}

// Set records p as its field's problem, replacing an earlier one.
func (r *Gathered) Set(p SourceProblem) {
	for i, q := range r.Problems {
		if q.Field == p.Field {
			r.Problems[i] = p
			return
		}
	}
	r.Problems = append(r.Problems, p)
}

// Has says whether field has a problem.
func (r *Gathered) Has(field string) bool {
	for _, p := range r.Problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

// Skipped are the invalid rows and excluded members, which SkipInvalid
// leaves out.
func (r Gathered) Skipped() []FieldProblem {
	return append(append([]FieldProblem{}, r.Invalid...), r.Excluded...)
}

// Plain drops the sources of ps.
func Plain(ps []FieldProblem) []Problem {
	var out []Problem
	for _, p := range ps {
		out = append(out, p.Problem)
	}
	return out
}

func fromSource(field string, ps []Problem) []FieldProblem {
	var out []FieldProblem
	for _, p := range ps {
		out = append(out, FieldProblem{Field: field, Problem: p})
	}
	return out
}

// Gather reads every given source, merges them (a number in two sources
// counts once) and judges them as the campaign form does.
func (g Gatherer) Gather(ctx context.Context, src Sources) Gathered {
	limit := g.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	var out Gathered
	tooMany := func(field string) SourceProblem { return SourceProblem{Field: field, Code: "too_many", Count: limit} }
	internal := func(field string, err error) { out.Set(SourceProblem{Field: field, Code: "internal", Err: err}) }
	var all Result
	if text := strings.TrimSpace(src.Numbers); text != "" {
		var res Result
		var err error
		if src.IDKind != "" {
			res, err = ParseKindIDs(src.IDKind, text, limit) // Viber, VK subscribers
		} else if src.ChatIDs {
			res, err = ParseIDs(text, limit) // a Telegram bot's subscribers
		} else {
			res, err = ParsePaste(text, g.Region, limit)
		}
		switch {
		case errors.Is(err, ErrTooMany):
			out.Set(tooMany("numbers"))
		case err != nil:
			internal("numbers", fmt.Errorf("typed numbers: %w", err))
		}
		out.Invalid = append(out.Invalid, fromSource("numbers", res.Invalid)...)
		all = res
	}
	if src.CSV != nil {
		res, err := ImportFile(src.CSV, CSVOptions{Region: g.Region, PhoneColumns: src.PhoneColumns, Limit: limit})
		switch {
		case err == nil:
		case errors.Is(err, ErrTooMany):
			out.Set(tooMany("csv"))
		case errors.Is(err, ErrNoPhoneColumn):
			out.Set(SourceProblem{Field: "csv", Code: "no_phone_column", Err: err})
		default:
			out.Set(SourceProblem{Field: "csv", Code: "unreadable", Err: err})
		}
		out.Invalid = append(out.Invalid, fromSource("csv", res.Invalid)...)
		all = Merge(all, res)
	}
	// An existing phonebook, by number type.
	if src.Phonebook != "" {
		if len(src.NumberTypes) == 0 {
			out.Set(SourceProblem{Field: "number_type", Code: "required"})
		}
		res, err := NewPhonebooks(g.Store).Select(ctx, src.Phonebook, src.NumberTypes, limit)
		switch {
		case errors.Is(err, ErrNoList):
			out.Set(SourceProblem{Field: "phonebook", Code: "not_found"})
		case errors.Is(err, ErrTooMany):
			out.Set(tooMany("phonebook"))
		case err != nil:
			internal("phonebook", fmt.Errorf("phonebook %s: %w", src.Phonebook, err))
		}
		out.Invalid = append(out.Invalid, fromSource("phonebook", res.Invalid)...)
		all = Merge(all, res)
	}
	// A subscriber group: the members who may be messaged now.
	if src.Group != "" {
		res, excluded, err := g.group(ctx, src.Group)
		switch {
		case errors.Is(err, ErrNoList):
			out.Set(SourceProblem{Field: "group", Code: "not_found"})
		case err != nil:
			internal("group", fmt.Errorf("group %s: %w", src.Group, err))
		case len(excluded) > 0 && !src.SkipInvalid:
			out.Set(SourceProblem{Field: "group", Code: "group_excluded", Count: len(excluded)})
		}
		out.Excluded = fromSource("group", excluded)
		out.Invalid = append(out.Invalid, fromSource("group", res.Invalid)...)
		all = Merge(all, res)
	}
	out.Valid = all.Valid
	if len(out.Valid) > limit {
		out.Set(tooMany("numbers"))
	}
	if !out.Has("numbers") && !out.Has("csv") {
		switch {
		case len(out.Invalid) > 0 && !src.SkipInvalid:
			out.Set(SourceProblem{Field: "numbers", Code: "invalid_rows", Count: len(out.Invalid)})
		case len(out.Valid) == 0 && !src.Edit && !src.List:
			out.Set(SourceProblem{Field: "numbers", Code: "required"})
		}
	}
	return out
}

// group reads a subscriber group and normalises its members' numbers.
func (g Gatherer) group(ctx context.Context, name string) (Result, []Problem, error) {
	if g.Group == nil {
		return Result{}, nil, fmt.Errorf("%w: group %q", ErrNoList, name)
	}
	send, excluded, err := g.Group(ctx, name)
	if err != nil {
		return Result{}, nil, err
	}
	var res Result
	seen := map[string]bool{}
	for _, r := range send {
		n, err := Normalize(r.Number, g.Region)
		if err != nil {
			res.Invalid = append(res.Invalid, Problem{Input: r.Number, Reason: err.Error(), ReasonCode: message.ReasonOf(err)})
			continue
		}
		if seen[n] {
			res.Duplicates = append(res.Duplicates, Duplicate{Number: n})
			continue
		}
		seen[n] = true
		r.Number = n
		res.Valid = append(res.Valid, r)
	}
	return res, excluded, nil
}

// ImportFile imports the CSV file open gives.
func ImportFile(open func() (io.ReadCloser, error), o CSVOptions) (Result, error) {
	r, err := open()
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	return ImportCSV(r, o)
}

// Merge joins two results, counting a number in both once (a duplicate).
func Merge(a, b Result) Result {
	seen := map[string]bool{}
	for _, r := range a.Valid {
		seen[r.Number] = true
	}
	for _, r := range b.Valid {
		if seen[r.Number] {
			a.Duplicates = append(a.Duplicates, Duplicate{Line: r.Line, Number: r.Number})
			continue
		}
		seen[r.Number] = true
		a.Valid = append(a.Valid, r)
	}
	a.Invalid = append(a.Invalid, b.Invalid...)
	a.Duplicates = append(a.Duplicates, b.Duplicates...)
	return a
}
