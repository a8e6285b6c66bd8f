package recipients

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Query filters and sorts a contact list before a campaign sends (seed
// 001: "Kontaktlistenfilter", "Kontakte sortieren"). It is saved with the
// campaign.
type Query struct {
	// Filters must all match (AND).
	Filters []Filter `json:"filters,omitempty"`
	// Sort orders the contacts by up to MaxSortKeys columns, the first
	// with the highest priority.
	Sort []SortKey `json:"sort,omitempty"`
}

// Filter operators.
const (
	OpEquals   = "equals"
	OpContains = "contains"
	OpLess     = "less"
	OpGreater  = "greater"
	OpEmpty    = "empty"
	OpNotEmpty = "not_empty"
)

// NumberColumn names the contact's phone number in filters and sort keys.
const NumberColumn = "number"

// MaxSortKeys is the seed's limit of sort columns.
const MaxSortKeys = 4

// Filter is one condition on a column.
type Filter struct {
	Column string `json:"column"`
	Op     string `json:"op"`
	Value  string `json:"value,omitempty"`
	// Numeric compares less/greater/equals as numbers ("Feld ist
	// numerisch"); otherwise as text, case-insensitively for equals and
	// contains (ISO 8601 dates compare correctly as text).
	Numeric bool `json:"numeric,omitempty"`
}

// SortKey is one sort column.
type SortKey struct {
	Column     string `json:"column"`
	Descending bool   `json:"descending,omitempty"`
	// Numeric sorts by value ("1.5" before "10"); values that are not
	// numbers go last. Text sorts byte-wise, so ISO dates (2017-12-25) sort
	// as dates and mm/dd/yy do not, as the seed notes.
	Numeric bool `json:"numeric,omitempty"`
}

// ErrQuery: a filter or sort key cannot be used.
var ErrQuery = errors.New("invalid contact list filter or sort")

var (
	rQueryColumn   = message.NewCode("list.query_column", 1)    // filter/sort number
	rQueryOp       = message.NewCode("list.query_op", 2)        // filter number, op
	rQueryValue    = message.NewCode("list.query_value", 1)     // filter number
	rQueryNumber   = message.NewCode("list.query_number", 2)    // filter number, value
	rQuerySortKeys = message.NewCode("list.query_sort_keys", 1) // maximum
)

func queryErr(r message.Reason, format string, a ...any) error {
	return message.WithReason(fmt.Errorf("%w: %s", ErrQuery, fmt.Sprintf(format, a...)), r)
}

// Validate checks q; errors wrap ErrQuery and carry a reason code.
func (q Query) Validate() error {
	for i, f := range q.Filters {
		n := strconv.Itoa(i + 1)
		if strings.TrimSpace(f.Column) == "" {
			return queryErr(rQueryColumn.R(n), "filter %s needs a column", n)
		}
		switch f.Op {
		case OpEmpty, OpNotEmpty:
		case OpEquals, OpContains, OpLess, OpGreater:
			if f.Value == "" && f.Op != OpEquals {
				return queryErr(rQueryValue.R(n), "filter %s needs a value", n)
			}
			if f.Numeric && f.Op != OpContains {
				if _, ok := number(f.Value); !ok {
					return queryErr(rQueryNumber.R(n, f.Value), "filter %s is numeric but %q is not a number", n, f.Value)
				}
			}
		default:
			return queryErr(rQueryOp.R(n, f.Op), "filter %s: operator %q: use equals, contains, less, greater, empty or not_empty", n, f.Op)
		}
	}
	if len(q.Sort) > MaxSortKeys {
		return queryErr(rQuerySortKeys.R(strconv.Itoa(MaxSortKeys)), "at most %d sort columns", MaxSortKeys)
	}
	for i, k := range q.Sort {
		if strings.TrimSpace(k.Column) == "" {
			n := strconv.Itoa(i + 1)
			return queryErr(rQueryColumn.R(n), "sort key %s needs a column", n)
		}
	}
	return nil
}

// IsZero reports whether q neither filters nor sorts.
func (q Query) IsZero() bool { return len(q.Filters) == 0 && len(q.Sort) == 0 }

// number parses a numeric cell: "1234.5", "-3", "1,5" (German decimal
// comma) and "1.234,50"/"1,234.50" with thousands separators.
func number(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return v, true
	}
	dot, comma := strings.LastIndex(s, "."), strings.LastIndex(s, ",")
	switch {
	case comma > dot: // 1.234,50 or 1,5
		s = strings.ReplaceAll(s, ".", "")
		s = strings.Replace(s, ",", ".", 1)
	case dot > comma && comma >= 0: // 1,234.50
		s = strings.ReplaceAll(s, ",", "")
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func field(c Contact, col string) string {
	if col == NumberColumn {
		return c.Number
	}
	return strings.TrimSpace(c.Fields[col])
}

// Match reports whether contact c satisfies f.
func (f Filter) Match(c Contact) bool {
	v := field(c, f.Column)
	switch f.Op {
	case OpEmpty:
		return v == ""
	case OpNotEmpty:
		return v != ""
	case OpContains:
		return strings.Contains(strings.ToLower(v), strings.ToLower(f.Value))
	}
	if f.Numeric {
		a, ok1 := number(v)
		b, ok2 := number(f.Value)
		if !ok1 || !ok2 {
			return false // a non-number never matches a numeric condition
		}
		switch f.Op {
		case OpEquals:
			return a == b
		case OpLess:
			return a < b
		case OpGreater:
			return a > b
		}
		return false
	}
	switch f.Op {
	case OpEquals:
		return strings.EqualFold(v, strings.TrimSpace(f.Value))
	case OpLess:
		return v != "" && v < f.Value
	case OpGreater:
		return v != "" && v > f.Value
	}
	return false
}

// Apply returns the contacts of cs that match every filter, sorted by the
// sort keys (stable: ties keep list order).
func (q Query) Apply(cs []Contact) []Contact {
	out := make([]Contact, 0, len(cs))
	for _, c := range cs {
		if !slices.ContainsFunc(q.Filters, func(f Filter) bool { return !f.Match(c) }) {
			out = append(out, c)
		}
	}
	if len(q.Sort) > 0 {
		slices.SortStableFunc(out, func(a, b Contact) int {
			for _, k := range q.Sort {
				if r := k.compare(a, b); r != 0 {
					return r
				}
			}
			return 0
		})
	}
	return out
}

func (k SortKey) compare(a, b Contact) int {
	va, vb := field(a, k.Column), field(b, k.Column)
	var r int
	if k.Numeric {
		na, oka := number(va)
		nb, okb := number(vb)
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return 1 // non-numbers last, whatever the direction
		case !okb:
			return -1
		}
		r = cmp.Compare(na, nb)
	} else {
		switch {
		case va == "" && vb == "":
			return 0
		case va == "":
			return 1 // empty cells last
		case vb == "":
			return -1
		}
		r = strings.Compare(va, vb)
	}
	if k.Descending {
		r = -r
	}
	return r
}
