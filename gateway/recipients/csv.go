package recipients

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// MaxFileSize bounds an uploaded CSV or vCard file; 1,000 recipients with a
// dozen columns are far below it.
const MaxFileSize = 16 << 20

// ErrNoPhoneColumn: the file has no column that holds phone numbers (or the
// chosen column does not exist).
var ErrNoPhoneColumn = errors.New("no phone number column")

// HeaderMode says whether the first CSV row names the columns.
type HeaderMode int

const (
	HeaderAuto HeaderMode = iota // a first row without any valid number is a header
	HeaderYes
	HeaderNo
)

// CSVOptions configure ImportCSV and PreviewCSV.
type CSVOptions struct {
	Region string // ISO 3166 default region for national numbers, e.g. "DE"
	Limit  int    // most unique valid numbers; 0 means DefaultLimit
	Header HeaderMode
	// PhoneColumns chooses the phone columns by header name (case
	// insensitive) or 1-based column number ("3"). Empty: detected from the
	// header names (phone, mobile, tel, nummer, dnc…) or, failing that, from
	// the values.
	PhoneColumns []string
	// Delimiter is ',', ';' or '\t'; 0 detects it.
	Delimiter rune
}

// Column describes one CSV column.
type Column struct {
	Index    int    `json:"index"`              // 1-based
	Header   string `json:"header,omitempty"`   // as written in the header row
	Variable string `json:"variable,omitempty"` // {{name}} for non-phone columns
	Phone    bool   `json:"phone"`
}

// Preview is what the portal shows before an import: the detected layout and
// the first rows.
type Preview struct {
	Delimiter string     `json:"delimiter"` // ",", ";" or "\t"
	HasHeader bool       `json:"has_header"`
	Columns   []Column   `json:"columns"`
	Rows      [][]string `json:"rows"`
	Lines     int        `json:"lines"` // physical lines in the file
}

type record struct {
	line   int
	fields []string
}

// csvFile is a parsed file: records with their line numbers plus the lines
// that could not be parsed.
type csvFile struct {
	delim   rune
	header  []string // nil without header row
	records []record
	broken  []Problem
	lines   int
}

func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read file: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d MB; that is far more than a campaign can take", ErrFileTooLarge, MaxFileSize>>20)
	}
	return b, nil
}

func splitLines(b []byte) []string {
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// detectDelimiter picks the delimiter that appears (outside quotes) the same
// non-zero number of times on most of the first lines.
func detectDelimiter(lines []string) rune {
	best, bestScore := ',', 0
	for _, d := range []rune{'\t', ';', ','} {
		counts := map[int]int{}
		n := 0
		for _, l := range lines {
			if strings.TrimSpace(l) == "" {
				continue
			}
			if n++; n > 20 {
				break
			}
			c, inQ := 0, false
			for _, r := range l {
				switch {
				case r == '"':
					inQ = !inQ
				case r == d && !inQ:
					c++
				}
			}
			if c > 0 {
				counts[c]++
			}
		}
		score := 0
		for _, v := range counts {
			score = max(score, v)
		}
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	return best
}

func parseRecord(s string, delim rune) ([]string, error) {
	cr := csv.NewReader(strings.NewReader(s))
	cr.Comma = delim
	cr.LazyQuotes = false
	cr.FieldsPerRecord = -1
	return cr.Read()
}

func csvReason(err error) (string, message.Reason) {
	switch {
	case errors.Is(err, csv.ErrBareQuote):
		return `a " appears inside a field that is not quoted; quote the whole field ("…") and double the inner quote ("")`, rCSVBareQuote.R()
	case errors.Is(err, csv.ErrQuote):
		return `a quoted field is not closed (or has text after its closing "); check the quotes on this line`, rCSVOpenQuote.R()
	}
	return err.Error(), rCSVOther.R(err.Error())
}

// maxJoin bounds how many physical lines one quoted field may span; beyond it
// an unclosed quote is reported as broken instead of swallowing the file.
const maxJoin = 5

func parseFile(b []byte, o CSVOptions) (*csvFile, error) {
	lines := splitLines(b)
	f := &csvFile{delim: o.Delimiter, lines: len(lines)}
	if f.delim == 0 {
		f.delim = detectDelimiter(lines)
	}
	want := 0 // fields per record, from the first record
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "" {
			continue
		}
		rec, err := parseRecord(lines[i], f.delim)
		used := 1
		if err != nil && errors.Is(err, csv.ErrQuote) {
			// A quoted field may legitimately span lines; accept the join
			// only if it yields a record of the expected width.
			joined := lines[i]
			for j := i + 1; j < len(lines) && j < i+maxJoin; j++ {
				joined += "\n" + lines[j]
				r2, err2 := parseRecord(joined, f.delim)
				if err2 == nil && (want == 0 || len(r2) == want) {
					rec, err, used = r2, nil, j-i+1
					break
				}
			}
		}
		if err != nil {
			why, code := csvReason(err)
			f.broken = append(f.broken, Problem{Line: i + 1, Input: lines[i], Reason: why, ReasonCode: code})
			continue
		}
		if want == 0 {
			want = len(rec)
		}
		for k := range rec {
			rec[k] = strings.TrimSpace(rec[k])
		}
		f.records = append(f.records, record{line: i + 1, fields: rec})
		i += used - 1
	}
	if len(f.records) == 0 {
		if len(f.broken) > 0 {
			return f, &NoReadableRowsError{First: f.broken[0]}
		}
		return f, ErrEmptyFile
	}
	hasHeader := false
	switch o.Header {
	case HeaderYes:
		hasHeader = true
	case HeaderNo:
	default:
		hasHeader = len(o.PhoneColumns) > 0 && !allDigits(o.PhoneColumns) || looksLikeHeader(f.records[0].fields, o.Region)
	}
	if hasHeader {
		f.header = f.records[0].fields
		f.records = f.records[1:]
	}
	return f, nil
}

func allDigits(ss []string) bool {
	for _, s := range ss {
		if _, err := strconv.Atoi(s); err != nil {
			return false
		}
	}
	return true
}

// looksLikeHeader: no cell of the first row looks like a phone number
// (valid or not), so an invalid number in the first row is reported as an
// invalid row instead of being taken for a column name.
func looksLikeHeader(fields []string, region string) bool {
	for _, v := range fields {
		if looksLikeNumber(v) {
			return false
		}
		if _, err := Normalize(v, region); err == nil {
			return false
		}
	}
	return true
}

func looksLikeNumber(v string) bool {
	digits, other := 0, 0
	for _, r := range v {
		switch {
		case unicode.IsDigit(r):
			digits++
		case strings.ContainsRune("+-()/. ", r):
		default:
			other++
		}
	}
	return digits >= 3 && other == 0
}

var phoneWords = []string{"phone", "tel", "mobil", "cell", "handy", "nummer", "number", "msisdn", "whatsapp", "dnc", "fon", "e164", "телефон", "номер"}

func isPhoneHeader(h string) bool {
	h = strings.ToLower(h)
	for _, w := range phoneWords {
		if strings.Contains(h, w) {
			return true
		}
	}
	return false
}

// variableName turns a header into a {{variable}} name: lower case, spaces
// and dashes as underscores, other punctuation dropped.
func variableName(h string, idx int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.':
			b.WriteRune('_')
		}
	}
	if b.Len() == 0 {
		return fmt.Sprintf("column_%d", idx)
	}
	return b.String()
}

// columns resolves the phone columns and variable names.
func (f *csvFile) columns(o CSVOptions) ([]Column, error) {
	width := len(f.header)
	for _, r := range f.records {
		width = max(width, len(r.fields))
	}
	cols := make([]Column, width)
	used := map[string]int{}
	for i := range cols {
		cols[i].Index = i + 1
		h := ""
		if i < len(f.header) {
			h = f.header[i]
		}
		cols[i].Header = h
		name := variableName(h, i+1)
		if used[name]++; used[name] > 1 {
			name = fmt.Sprintf("%s_%d", name, used[name])
		}
		cols[i].Variable = name
	}
	names := func() string {
		var ns []string
		for _, c := range cols {
			if c.Header != "" {
				ns = append(ns, fmt.Sprintf("%d=%q", c.Index, c.Header))
			} else {
				ns = append(ns, strconv.Itoa(c.Index))
			}
		}
		return strings.Join(ns, ", ")
	}
	if len(o.PhoneColumns) > 0 {
	choose:
		for _, want := range o.PhoneColumns {
			for i := range cols {
				if cols[i].Header != "" && strings.EqualFold(cols[i].Header, strings.TrimSpace(want)) {
					cols[i].Phone = true
					continue choose
				}
			}
			if n, err := strconv.Atoi(strings.TrimSpace(want)); err == nil && n >= 1 && n <= width {
				cols[n-1].Phone = true
				continue
			}
			return cols, fmt.Errorf("%w: the file has no column %q (columns: %s)", ErrNoPhoneColumn, want, names())
		}
		return cols, nil
	}
	found := false
	for i := range cols {
		if cols[i].Header != "" && isPhoneHeader(cols[i].Header) {
			cols[i].Phone, found = true, true
		}
	}
	if found {
		return cols, nil
	}
	// No telling header: a column where most sampled values are numbers.
	for i := range cols {
		valid, filled := 0, 0
		for _, r := range f.records[:min(len(f.records), 20)] {
			if i >= len(r.fields) || r.fields[i] == "" {
				continue
			}
			filled++
			if _, err := Normalize(r.fields[i], o.Region); err == nil {
				valid++
			}
		}
		if filled > 0 && valid*2 >= filled {
			cols[i].Phone, found = true, true
		}
	}
	if !found {
		return cols, fmt.Errorf("%w: no column holds phone numbers; choose the phone column(s) by name or number (columns: %s)", ErrNoPhoneColumn, names())
	}
	return cols, nil
}

// ImportCSV reads a CSV file of recipients: ',', ';' or tab delimited
// (detected), with or without a UTF-8 BOM and header row, quoted fields,
// one or several phone columns. Every other column becomes a variable of
// the row's recipients. Rows that cannot be read and invalid numbers are
// reported in Result.Invalid with their line numbers; duplicates are removed
// and listed. More unique numbers than o.Limit is an ErrTooMany error.
func ImportCSV(r io.Reader, o CSVOptions) (Result, error) {
	b, err := readAllLimited(r)
	if err != nil {
		return Result{}, err
	}
	f, err := parseFile(b, o)
	if err != nil {
		return Result{Invalid: f.broken}, err
	}
	cols, err := f.columns(o)
	if err != nil {
		return Result{Invalid: f.broken}, err
	}
	c := newCollector()
	c.res.Invalid = append(c.res.Invalid, f.broken...)
	for _, rec := range f.records {
		if isBlank(rec.fields) {
			continue
		}
		vars := map[string]string{}
		for i, col := range cols {
			if !col.Phone && i < len(rec.fields) && rec.fields[i] != "" {
				vars[col.Variable] = rec.fields[i]
			}
		}
		if len(vars) == 0 {
			vars = nil
		}
		hasNumber := false
		var phoneNames []string
		for i, col := range cols {
			if !col.Phone {
				continue
			}
			phoneNames = append(phoneNames, colName(col))
			if i >= len(rec.fields) || rec.fields[i] == "" {
				continue
			}
			hasNumber = true
			n, err := Normalize(rec.fields[i], o.Region)
			if err != nil {
				c.invalid(Problem{Line: rec.line, Column: colName(col), Input: rec.fields[i], Reason: err.Error(), ReasonCode: message.ReasonOf(err)})
				continue
			}
			c.add(Recipient{Number: n, Vars: vars, Line: rec.line})
		}
		if !hasNumber {
			c.invalid(Problem{Line: rec.line, Input: strings.Join(rec.fields, string(f.delim)), Reason: "no phone number in " + strings.Join(phoneNames, ", "),
				ReasonCode: rCSVNoNumber.R(strings.Join(phoneNames, ", "))})
		}
	}
	sortProblems(c.res.Invalid)
	return c.finish(o.Limit)
}

func colName(c Column) string {
	if c.Header != "" {
		return c.Header
	}
	return strconv.Itoa(c.Index)
}

func isBlank(fields []string) bool {
	for _, f := range fields {
		if f != "" {
			return false
		}
	}
	return true
}

func sortProblems(ps []Problem) {
	// Insertion sort: broken lines were collected first, number problems
	// later; the admin reads them in file order.
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Line < ps[j-1].Line; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// PreviewCSV detects the layout of a CSV file and returns its columns and
// first rows (at most rows) for the import dialog. A file without any
// recognisable phone column still previews; Columns then has no Phone entry
// and the error says so.
func PreviewCSV(r io.Reader, o CSVOptions, rows int) (Preview, error) {
	b, err := readAllLimited(r)
	if err != nil {
		return Preview{}, err
	}
	f, err := parseFile(b, o)
	if err != nil {
		return Preview{}, err
	}
	p := Preview{Delimiter: string(f.delim), HasHeader: f.header != nil, Lines: f.lines}
	cols, cerr := f.columns(o)
	p.Columns = cols
	for _, rec := range f.records[:min(rows, len(f.records))] {
		p.Rows = append(p.Rows, rec.fields)
	}
	return p, cerr
}
