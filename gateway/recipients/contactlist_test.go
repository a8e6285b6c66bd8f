package recipients

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The seed (001) sorts a list by "Betrag_verschuldet" so that the highest
// debts come first, and notes that mm/dd/yy dates sort as text while ISO
// dates sort correctly either way.
const debtorsCSV = `Name;Telefon;Betrag_verschuldet;Faellig;Stadt
Anna;+49 151 10000001;120,50;2017-12-25;Berlin
Bernd;+49 151 10000002;1.500,00;2017-01-03;Hamburg
Clara;+49 151 10000003;99;2016-12-31;Berlin
Dieter;+49 151 10000004;;2018-02-01;München
Eva;+49 151 10000005;1500;2017-01-03;berlin
`

func numbersOf(rs []Recipient) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Vars["name"]
	}
	return out
}

func TestContactListImportFilterSort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewContactLists(openStore(t))
	meta, res, err := l.ImportCSV(ctx, "Schuldner", strings.NewReader(debtorsCSV), CSVOptions{Region: "DE"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Contacts != 5 || meta.LastSeq != 5 || len(res.Valid) != 5 {
		t.Fatalf("imported %+v, %d valid", meta, len(res.Valid))
	}
	for _, col := range []string{"name", "betrag_verschuldet", "faellig", "stadt"} {
		if !slices.Contains(meta.Columns, col) {
			t.Errorf("columns %v lack %q", meta.Columns, col)
		}
	}
	cases := []struct {
		name string
		q    Query
		want []string
	}{
		{"highest debt first (numeric, German decimals)", Query{Sort: []SortKey{{Column: "betrag_verschuldet", Descending: true, Numeric: true}}},
			[]string{"Bernd", "Eva", "Anna", "Clara", "Dieter"}},
		{"same debt, then name descending", Query{Sort: []SortKey{{Column: "betrag_verschuldet", Descending: true, Numeric: true}, {Column: "name", Descending: true}}},
			[]string{"Eva", "Bernd", "Anna", "Clara", "Dieter"}},
		{"text sort of numbers is byte-wise", Query{Sort: []SortKey{{Column: "betrag_verschuldet"}}},
			[]string{"Bernd", "Anna", "Eva", "Clara", "Dieter"}},
		{"ISO dates sort as text, then by city, then debt", Query{Sort: []SortKey{{Column: "faellig"}, {Column: "stadt"}, {Column: "betrag_verschuldet", Numeric: true}, {Column: "name"}}},
			[]string{"Clara", "Bernd", "Eva", "Anna", "Dieter"}},
		{"equals is case-insensitive", Query{Filters: []Filter{{Column: "stadt", Op: OpEquals, Value: "Berlin"}}},
			[]string{"Anna", "Clara", "Eva"}},
		{"contains", Query{Filters: []Filter{{Column: "stadt", Op: OpContains, Value: "bur"}}},
			[]string{"Bernd"}},
		{"numeric greater", Query{Filters: []Filter{{Column: "betrag_verschuldet", Op: OpGreater, Value: "100", Numeric: true}}},
			[]string{"Anna", "Bernd", "Eva"}},
		{"numeric less leaves out empty cells", Query{Filters: []Filter{{Column: "betrag_verschuldet", Op: OpLess, Value: "1000", Numeric: true}}},
			[]string{"Anna", "Clara"}},
		{"text less on ISO dates", Query{Filters: []Filter{{Column: "faellig", Op: OpLess, Value: "2017-06-01"}}},
			[]string{"Bernd", "Clara", "Eva"}},
		{"empty", Query{Filters: []Filter{{Column: "betrag_verschuldet", Op: OpEmpty}}},
			[]string{"Dieter"}},
		{"filters AND, then sorted", Query{Filters: []Filter{{Column: "stadt", Op: OpEquals, Value: "berlin"}, {Column: "betrag_verschuldet", Op: OpNotEmpty}},
			Sort: []SortKey{{Column: "betrag_verschuldet", Numeric: true}}},
			[]string{"Clara", "Anna", "Eva"}},
		{"number column", Query{Filters: []Filter{{Column: NumberColumn, Op: OpContains, Value: "10000003"}}},
			[]string{"Clara"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := l.Select(ctx, "Schuldner", 0, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := numbersOf(sel.Recipients); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if sel.LastSeq != 5 || sel.Matched+sel.Filtered != 5 {
				t.Fatalf("selection %+v", sel)
			}
		})
	}
}

func TestContactListAppendSequence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewContactLists(openStore(t))
	_, _, err := l.Append(ctx, "live", []Recipient{{Number: "0151 20000001", Vars: map[string]string{"plan": "gold"}}, {Number: "0151 20000002"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	meta, res, err := l.Append(ctx, "live", []Recipient{{Number: "+4915120000002"}, {Number: "abc"}, {Number: "0151 20000003", Vars: map[string]string{"plan": "silver"}}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if meta.Contacts != 3 || meta.LastSeq != 3 || len(res.Duplicates) != 1 || len(res.Invalid) != 1 || len(res.Valid) != 1 {
		t.Fatalf("meta %+v res %+v", meta, res)
	}
	sel, err := l.Select(ctx, "live", 2, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Recipients) != 1 || sel.Recipients[0].Number != "+4915120000003" || sel.Recipients[0].Line != 3 {
		t.Fatalf("after seq 2: %+v", sel.Recipients)
	}
	// Replacing the contents keeps counting: a campaign that took 1..3
	// sees the new contacts as new.
	meta, _, err = l.ImportCSV(ctx, "live", strings.NewReader("phone,plan\n+4915120000009,gold\n"), CSVOptions{Region: "DE"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Contacts != 1 || meta.LastSeq != 4 {
		t.Fatalf("after replace: %+v", meta)
	}
	cs, err := l.Contacts(ctx, "live", 3)
	if err != nil || len(cs) != 1 || cs[0].Seq != 4 || cs[0].Fields["plan"] != "gold" {
		t.Fatalf("contacts after 3: %+v %v", cs, err)
	}
	if _, err := l.Select(ctx, "nope", 0, Query{}); !errors.Is(err, ErrNoList) {
		t.Fatalf("unknown list: %v", err)
	}
	if _, _, err := l.Append(ctx, " ", nil, "DE"); !errors.Is(err, ErrListName) {
		t.Fatalf("empty name: %v", err)
	}
}

func TestQueryValidate(t *testing.T) {
	t.Parallel()
	bad := []Query{
		{Filters: []Filter{{Op: OpEquals, Value: "x"}}},
		{Filters: []Filter{{Column: "a", Op: "like", Value: "x"}}},
		{Filters: []Filter{{Column: "a", Op: OpGreater}}},
		{Filters: []Filter{{Column: "a", Op: OpLess, Value: "soon", Numeric: true}}},
		{Sort: []SortKey{{Column: "a"}, {Column: "b"}, {Column: "c"}, {Column: "d"}, {Column: "e"}}},
		{Sort: []SortKey{{Column: " "}}},
	}
	for i, q := range bad {
		if err := q.Validate(); !errors.Is(err, ErrQuery) {
			t.Errorf("%d: %+v: %v", i, q, err)
		}
	}
	good := Query{Filters: []Filter{{Column: "a", Op: OpEmpty}, {Column: "b", Op: OpEquals, Value: "1.234,5", Numeric: true}},
		Sort: []SortKey{{Column: "a"}, {Column: "b"}, {Column: "c"}, {Column: "d", Descending: true}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]float64{"1.234,50": 1234.5, "1,234.50": 1234.5, "1,5": 1.5, "-3": -3, "99": 99} {
		if v, ok := number(in); !ok || v != want {
			t.Errorf("number(%q) = %v %v", in, v, ok)
		}
	}
}
