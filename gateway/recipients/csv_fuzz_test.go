package recipients

import (
	"bytes"
	"encoding/csv"
	"errors"
	"regexp"
	"testing"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{4,14}$`)

// FuzzCSVImport feeds uploaded recipient files to ImportCSV and
// PreviewCSV, with every delimiter and header mode. Seeds are the layouts
// the import dialog is built for: Excel's German semicolon export with a
// BOM and CRLF, tab-separated, quoted fields spanning lines, a broken
// quote, several phone columns, national numbers.
//
// (A stronger sibling of FuzzImportCSV in recipients_test.go, which checks
// line numbers only.)
//
// Properties: every valid recipient is an E.164 number that normalises to
// itself, appears once and points at a line of the file; every duplicate
// names a number that is in the list and a first line at or before its
// own; problems come in file order with a reason; at most the limit of
// numbers is returned without ErrTooMany; and the valid numbers written
// back as a one-column CSV import to the same list (round trip).
func FuzzCSVImport(f *testing.F) {
	for _, s := range []string{
		"\ufeffVorname;Nachname;Mobil\r\nAnna;Müller;0171 1234567\r\nBernd;Schulz;+49 30 1234567\r\n",
		"name\tphone\nAnna\t+4917012345678\nAnna\t+49 170 12345678\n",
		"phone,note\n+4917012345678,\"two\nlines\"\n+4915112345678,x\n",
		"phone,note\n+4917012345678,\"open\n+4915112345678,x\n",
		"mobil,festnetz\n0171 1234567,030 1234567\n,\n",
		"+4917012345678\n+4915112345678\n+4917012345678\n0049 151 1234 5678\n",
		"a\"b,c\n",
		"",
	} {
		f.Add([]byte(s), byte(0), byte(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, delim, header byte) {
		o := CSVOptions{Region: "DE", Limit: 50, Header: HeaderMode(header % 3), Delimiter: []rune{0, ',', ';', '\t'}[delim%4]}
		res, err := ImportCSV(bytes.NewReader(data), o)
		if err != nil && err.Error() == "" {
			t.Fatal("error without a message")
		}
		lines := len(splitLines(data))
		firstLine := map[string]int{}
		for _, r := range res.Valid {
			if !e164.MatchString(r.Number) {
				t.Fatalf("valid recipient %q is not E.164", r.Number)
			}
			if n, err := Normalize(r.Number, o.Region); err != nil || n != r.Number {
				t.Fatalf("%q normalises to %q, %v", r.Number, n, err)
			}
			if _, dup := firstLine[r.Number]; dup {
				t.Fatalf("%q listed twice", r.Number)
			}
			if r.Line < 1 || r.Line > lines {
				t.Fatalf("%q from line %d of %d", r.Number, r.Line, lines)
			}
			firstLine[r.Number] = r.Line
		}
		for _, d := range res.Duplicates {
			fl, ok := firstLine[d.Number]
			if !ok || fl != d.FirstLine || d.FirstLine > d.Line {
				t.Fatalf("duplicate %+v: first seen on line %d (%v)", d, fl, ok)
			}
		}
		for i, p := range res.Invalid {
			if p.Reason == "" || p.Line < 1 || p.Line > lines {
				t.Fatalf("problem %+v (file of %d lines)", p, lines)
			}
			if i > 0 && res.Invalid[i-1].Line > p.Line {
				t.Fatalf("problems out of order: %+v", res.Invalid)
			}
		}
		if len(res.Valid) > o.Limit && !errors.Is(err, ErrTooMany) {
			t.Fatalf("%d numbers over the limit %d without ErrTooMany: %v", len(res.Valid), o.Limit, err)
		}
		if _, err := PreviewCSV(bytes.NewReader(data), o, 5); err != nil && err.Error() == "" {
			t.Fatal("preview error without a message")
		}
		if err != nil || len(res.Valid) == 0 {
			return
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		_ = w.Write([]string{"phone"})
		for _, r := range res.Valid {
			_ = w.Write([]string{r.Number})
		}
		w.Flush()
		back, err := ImportCSV(&buf, CSVOptions{Region: "DE", Limit: o.Limit})
		if err != nil || len(back.Valid) != len(res.Valid) || len(back.Invalid) != 0 {
			t.Fatalf("round trip of %d numbers: %d valid, %d invalid, %v", len(res.Valid), len(back.Valid), len(back.Invalid), err)
		}
		for i := range back.Valid {
			if back.Valid[i].Number != res.Valid[i].Number {
				t.Fatalf("round trip: %q became %q", res.Valid[i].Number, back.Valid[i].Number)
			}
		}
	})
}
