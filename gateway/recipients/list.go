package recipients

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// DefaultLimit is the seeds' limit of recipients per campaign.
const DefaultLimit = 1000

// ErrTooMany is returned when an import has more unique valid numbers than
// the limit allows; the import is refused as a whole so nothing is dropped.
var ErrTooMany = errors.New("too many recipients")

// Recipient is one normalised number with its personalisation variables.
type Recipient struct {
	Number string            `json:"number"`         // E.164
	Vars   map[string]string `json:"vars,omitempty"` // column name -> value, e.g. first_name
	Line   int               `json:"line,omitempty"` // 1-based source line, 0 when typed
}

// Problem is one rejected input with where it was and why.
type Problem struct {
	Line   int    `json:"line"`             // 1-based line in the pasted text or file
	Column string `json:"column,omitempty"` // CSV column, when known
	Input  string `json:"input"`
	Reason string `json:"reason"`
	// ReasonCode is Reason for translation (zero: show Reason).
	ReasonCode message.Reason `json:"reason_code,omitzero"`
}

func (p Problem) String() string {
	where := fmt.Sprintf("line %d", p.Line)
	if p.Column != "" {
		where += ", column " + p.Column
	}
	return fmt.Sprintf("%s: %s", where, p.Reason)
}

// Duplicate records a number seen again, and where it was first seen.
type Duplicate struct {
	Line      int    `json:"line"`
	FirstLine int    `json:"first_line"`
	Number    string `json:"number"`
}

// Result is the outcome of parsing a list: every input is in exactly one of
// Valid, Invalid or Duplicates.
type Result struct {
	Valid      []Recipient `json:"valid"`
	Invalid    []Problem   `json:"invalid,omitempty"`
	Duplicates []Duplicate `json:"duplicates,omitempty"`
}

// DuplicateCount is how many duplicates were removed.
func (r Result) DuplicateCount() int { return len(r.Duplicates) }

// collector dedupes numbers and enforces nothing but bookkeeping; the limit
// is checked once at the end so the error can say how many there were.
type collector struct {
	res  Result
	seen map[string]int // number -> first line
}

func newCollector() *collector { return &collector{seen: map[string]int{}} }

func (c *collector) add(r Recipient) {
	if first, ok := c.seen[r.Number]; ok {
		c.res.Duplicates = append(c.res.Duplicates, Duplicate{Line: r.Line, FirstLine: first, Number: r.Number})
		return
	}
	c.seen[r.Number] = r.Line
	c.res.Valid = append(c.res.Valid, r)
}

func (c *collector) invalid(p Problem) { c.res.Invalid = append(c.res.Invalid, p) }

func (c *collector) finish(limit int) (Result, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if n := len(c.res.Valid); n > limit {
		return c.res, fmt.Errorf("%w: the list has %d different valid numbers, the limit is %d per campaign (campaigns.max_recipients); split it into several campaigns", ErrTooMany, n, limit)
	}
	return c.res, nil
}

// ParsePaste reads a pasted list of numbers separated by newlines, spaces,
// commas or semicolons (seed 004). National numbers are read in region.
//
// Because spaces separate entries, a number written with spaces
// ("030 1234567") is split; ParsePaste first tries each line as a whole
// number and splits only when that fails, so "030 1234567" on its own line
// still works.
func ParsePaste(text, region string, limit int) (Result, error) {
	c := newCollector()
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		lineNo := i + 1
		line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
		if line == "" {
			continue
		}
		for _, part := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' }) {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if n, err := Normalize(part, region); err == nil {
				c.add(Recipient{Number: n, Line: lineNo})
				continue
			}
			for _, tok := range strings.Fields(part) {
				n, err := Normalize(tok, region)
				if err != nil {
					c.invalid(Problem{Line: lineNo, Input: tok, Reason: err.Error(), ReasonCode: message.ReasonOf(err)})
					continue
				}
				c.add(Recipient{Number: n, Line: lineNo})
			}
		}
	}
	return c.finish(limit)
}
