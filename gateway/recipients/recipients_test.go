package recipients

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"+49 30 1234567":   "+49301234567",
		"030 1234567":      "+49301234567",
		"0171/1234567":     "+491711234567",
		"0049 171 1234567": "+491711234567",
		"+1 317-981-6233":  "+13179816233",
	}
	for in, want := range ok {
		got, err := Normalize(in, "DE")
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"12":          "too short",
		"hello":       "not a number",
		"+49 30 12ab": "not a number",
		"":            "empty",
		"+999 123456": "country code",
		"+49 99999":   "",
	}
	for in, reason := range bad {
		_, err := Normalize(in, "DE")
		if !errors.Is(err, ErrInvalidNumber) {
			t.Errorf("Normalize(%q) = %v, want ErrInvalidNumber", in, err)
			continue
		}
		if !strings.Contains(err.Error(), reason) || (in != "" && !strings.Contains(err.Error(), in)) {
			t.Errorf("Normalize(%q) error %q should name the number and say %q", in, err, reason)
		}
	}
	if _, err := Normalize("030 1234567", ""); err == nil || !strings.Contains(err.Error(), "default region") {
		t.Errorf("national number without region: %v", err)
	}
}

func TestParsePaste(t *testing.T) {
	t.Parallel()
	res, err := ParsePaste("+49301234567, 0301234567;+491711234567\n0171 7654321\n\nfoo +4915112345678\t+4915112345679", "DE", 0)
	if err != nil {
		t.Fatal(err)
	}
	var nums []string
	for _, r := range res.Valid {
		nums = append(nums, r.Number)
	}
	want := "+49301234567 +491711234567 +491717654321 +4915112345678 +4915112345679"
	if strings.Join(nums, " ") != want {
		t.Errorf("valid = %v, want %s", nums, want)
	}
	if res.DuplicateCount() != 1 || res.Duplicates[0].FirstLine != 1 {
		t.Errorf("duplicates = %+v", res.Duplicates)
	}
	if len(res.Invalid) != 1 || res.Invalid[0].Line != 4 || res.Invalid[0].Input != "foo" {
		t.Errorf("invalid = %+v", res.Invalid)
	}
}

func TestImportCSVDelimitersBOMQuotes(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"comma+BOM": "\ufeffphone,first_name,city\n+49301234567,Anna,\"Berlin, Mitte\"\n0171 1234567,Bernd,Köln\n",
		"semicolon": "Telefon;Vorname;Stadt\r\n+49301234567;Anna;Berlin, Mitte\r\n0171 1234567;Bernd;Köln\r\n",
		"tab":       "number\tfirst name\tcity\n+49301234567\tAnna\tBerlin, Mitte\n0171 1234567\tBernd\tKöln\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := ImportCSV(strings.NewReader(in), CSVOptions{Region: "DE"})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Valid) != 2 || len(res.Invalid) != 0 {
				t.Fatalf("result %+v", res)
			}
			r := res.Valid[0]
			if r.Number != "+49301234567" || r.Line != 2 {
				t.Errorf("first = %+v", r)
			}
			first := r.Vars["first_name"] + r.Vars["vorname"]
			city := r.Vars["city"] + r.Vars["stadt"]
			if first != "Anna" || city != "Berlin, Mitte" {
				t.Errorf("vars = %v", r.Vars)
			}
		})
	}
}

func TestImportCSVNoHeaderAndChosenColumns(t *testing.T) {
	t.Parallel()
	res, err := ImportCSV(strings.NewReader("Anna,+49301234567\nBernd,+491711234567\n"), CSVOptions{Region: "DE"})
	if err != nil || len(res.Valid) != 2 || res.Valid[0].Vars["column_1"] != "Anna" {
		t.Fatalf("no header: %+v %v", res, err)
	}
	// An invalid number in the first row is a reported row, not a header.
	res, err = ImportCSV(strings.NewReader("12345\n+49301234567\n"), CSVOptions{Region: "DE"})
	if err != nil || len(res.Valid) != 1 || len(res.Invalid) != 1 || res.Invalid[0].Line != 1 {
		t.Fatalf("first row invalid: %+v %v", res, err)
	}
	// The seeds' DNC example: three phone columns chosen by name and index.
	in := "Last Name, First Name,DNC_Home,DNC_Cell,DNC_Work\nSmith,Bill,317-153-4777,317-981-6233,317-333-2174\nThomas,Terry,424-999-2334,424-384-9993,424-973-8828\n"
	res, err = ImportCSV(strings.NewReader(in), CSVOptions{Region: "US", PhoneColumns: []string{"dnc_home", "4", "DNC_Work"}})
	if err != nil {
		t.Fatal(err)
	}
	// 317-153-4777 is not a valid NANP number (exchange codes never start
	// with 1): it is reported, not dropped.
	if len(res.Valid) != 5 || len(res.Invalid) != 1 || res.Invalid[0].Line != 2 || res.Invalid[0].Column != "DNC_Home" {
		t.Fatalf("valid %d: %+v", len(res.Valid), res)
	}
	if res.Valid[0].Vars["first_name"] != "Bill" || res.Valid[0].Vars["last_name"] != "Smith" {
		t.Errorf("vars %v", res.Valid[0].Vars)
	}
	_, err = ImportCSV(strings.NewReader(in), CSVOptions{Region: "US", PhoneColumns: []string{"Mobile"}})
	if !errors.Is(err, ErrNoPhoneColumn) || !strings.Contains(err.Error(), "DNC_Cell") {
		t.Errorf("unknown column: %v", err)
	}
}

func TestImportCSVBrokenLinesAndDuplicates(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		"phone,name",                // 1
		"+49301234567,Anna",         // 2
		"+49301234567,Anna again",   // 3 duplicate
		"12,Short",                  // 4 too short
		"\"+491711234567\",\"Multi", // 5 quoted field spanning lines
		"line\"",                    // 6
		"+491711234568,\"Bro\"ken",  // 7 broken quote
		"+491711234569,Carl",        // 8
		",NoNumber",                 // 9
		"+4915112345678,\"unclosed", // 10 never closed
		"+4915112345679,Dora",       // 11
		"+4915112345680,Eve",        // 12
		"+4915112345681,Finn",       // 13
		"+4915112345682,Gus",        // 14
		"+4915112345683,Hal",        // 15
	}, "\n")
	res, err := ImportCSV(strings.NewReader(in), CSVOptions{Region: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	lines := map[int]string{}
	for _, p := range res.Invalid {
		lines[p.Line] = p.Reason
	}
	for _, l := range []int{4, 7, 9, 10} {
		if lines[l] == "" {
			t.Errorf("line %d not reported; problems %+v", l, res.Invalid)
		}
	}
	if len(res.Invalid) != 4 {
		t.Errorf("problems %+v", res.Invalid)
	}
	if !strings.Contains(lines[7], "quote") || !strings.Contains(lines[4], "too short") {
		t.Errorf("reasons: %v", lines)
	}
	if res.DuplicateCount() != 1 || res.Duplicates[0].Line != 3 {
		t.Errorf("duplicates %+v", res.Duplicates)
	}
	// 2, 5(+6), 8, 11..15
	if len(res.Valid) != 8 {
		t.Errorf("valid %d: %+v", len(res.Valid), res.Valid)
	}
	if res.Valid[1].Vars["name"] != "Multi\nline" {
		t.Errorf("multi-line field: %q", res.Valid[1].Vars["name"])
	}
	// Accounting: every data line is valid, invalid or duplicate.
	if got := len(res.Valid) + len(res.Invalid) + res.DuplicateCount(); got != 13 {
		t.Errorf("accounted %d of 13 records", got)
	}
}

func TestImportCSVLimit(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("phone\n")
	for i := range 1001 {
		fmt.Fprintf(&b, "+4915112%06d\n", i)
	}
	res, err := ImportCSV(strings.NewReader(b.String()), CSVOptions{Region: "DE"})
	if !errors.Is(err, ErrTooMany) || !strings.Contains(err.Error(), "1001") || !strings.Contains(err.Error(), "1000") {
		t.Fatalf("err = %v", err)
	}
	if len(res.Valid) != 1001 {
		t.Errorf("result must still show all rows, got %d", len(res.Valid))
	}
	// 1,000 is fine.
	in := strings.Join(strings.Split(b.String(), "\n")[:1001], "\n")
	if res, err := ImportCSV(strings.NewReader(in), CSVOptions{Region: "DE"}); err != nil || len(res.Valid) != 1000 {
		t.Errorf("1000 rows: %d %v", len(res.Valid), err)
	}
}

func TestPreviewCSV(t *testing.T) {
	t.Parallel()
	p, err := PreviewCSV(strings.NewReader("\ufeffName;Mobil;Ort\nAnna;0171 1234567;Berlin\nBernd;0171 7654321;Köln\nCarl;0171 7654322;Ulm\n"), CSVOptions{Region: "DE"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.Delimiter != ";" || !p.HasHeader || len(p.Rows) != 2 || len(p.Columns) != 3 {
		t.Fatalf("preview %+v", p)
	}
	if !p.Columns[1].Phone || p.Columns[0].Phone || p.Columns[2].Variable != "ort" {
		t.Errorf("columns %+v", p.Columns)
	}
	if _, err := PreviewCSV(strings.NewReader("a,b\nc,d\n"), CSVOptions{Region: "DE"}, 5); !errors.Is(err, ErrNoPhoneColumn) {
		t.Errorf("no phone column: %v", err)
	}
}

func TestDNCLists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := NewLists(openStore(t))
	in := "Last Name, First Name,DNC_Home,DNC_Cell,DNC_Work\nSmith,Bill,317-153-4777,317-981-6233,317-333-2174\nThomas,Terry,424-999-2334,424-384-9993,bad\n"
	m, res, err := l.Import(ctx, "Opt-outs 2026", strings.NewReader(in), CSVOptions{Region: "US"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Numbers != 4 || len(res.Invalid) != 2 || res.Invalid[1].Line != 3 || res.Invalid[1].Column != "DNC_Work" {
		t.Fatalf("meta %+v invalid %+v", m, res.Invalid)
	}
	list, ok, err := l.Match(ctx, []string{"Opt-outs 2026"}, "+14243849993")
	if err != nil || !ok || list != "Opt-outs 2026" {
		t.Errorf("match: %q %v %v", list, ok, err)
	}
	if _, ok, _ := l.Match(ctx, []string{"Opt-outs 2026"}, "+14243849999"); ok {
		t.Error("unexpected match")
	}
	// Re-import replaces the list.
	if _, _, err := l.Import(ctx, "Opt-outs 2026", strings.NewReader("phone\n+14243849999\n"), CSVOptions{Region: "US"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := l.Match(ctx, []string{"Opt-outs 2026"}, "+14243849993"); ok {
		t.Error("old generation still matches")
	}
	if _, ok, _ := l.Match(ctx, []string{"Opt-outs 2026"}, "+14243849999"); !ok {
		t.Error("new generation does not match")
	}
	if _, _, err := l.Match(ctx, []string{"nope"}, "+14243849999"); !errors.Is(err, ErrNoList) {
		t.Errorf("missing list: %v", err)
	}
	if _, _, err := l.Import(ctx, "empty", strings.NewReader("phone\nxx\n"), CSVOptions{Region: "US"}); err == nil {
		t.Error("a list without valid numbers must be refused")
	}
	all, _ := l.All(ctx)
	if len(all) != 1 {
		t.Errorf("all = %+v", all)
	}
	if err := l.Delete(ctx, "Opt-outs 2026"); err != nil || l.Exists(ctx, "Opt-outs 2026") {
		t.Errorf("delete: %v", err)
	}
}

func TestPhonebookVCardAndSelect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := NewPhonebooks(openStore(t))
	vcf := "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anna Schmidt\r\nN:Schmidt;Anna;;;\r\nTEL;TYPE=cell:+49 171 1234567\r\nTEL;TYPE=work,voice:030 1234567\r\nEND:VCARD\r\n" +
		"BEGIN:VCARD\nVERSION:4.0\nFN:Bernd\n  Meier\nN:Meier;Bernd;;;\nTEL;VALUE=uri;TYPE=\"home,voice\":tel:+49-30-7654321\nitem1.TEL;TYPE=\"cell\":tel:+491717654321\nEND:VCARD\n" +
		"BEGIN:VCARD\nVERSION:2.1\nN:Leer;Otto\nTEL;CELL:abc\nEND:VCARD\n"
	imp, err := p.ImportVCard(ctx, "Kunden", strings.NewReader(vcf), "DE")
	if err != nil {
		t.Fatal(err)
	}
	if imp.Phonebook.Entries != 2 || imp.Phonebook.Numbers != 4 || len(imp.Invalid) != 2 {
		t.Fatalf("import %+v", imp)
	}
	es, _ := p.Entries(ctx, "Kunden")
	if es[1].Name != "Bernd Meier" || es[1].Numbers[0].Type != Home || es[0].FirstName != "Anna" {
		t.Errorf("entries %+v", es)
	}
	res, err := p.Select(ctx, "Kunden", []NumberType{Mobile}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Valid) != 2 || res.Valid[0].Number != "+491711234567" || res.Valid[1].Vars["first_name"] != "Bernd" {
		t.Errorf("select %+v", res)
	}
	csvIn := "Vorname,Nachname,Handy,Büro,Privat\nCarla,Wolf,0171 1111111,030 2222222,\n"
	imp, err = p.ImportCSV(ctx, "Kunden", strings.NewReader(csvIn), CSVOptions{Region: "DE"})
	if err != nil || imp.Phonebook.Entries != 1 || imp.Phonebook.Gen != 2 {
		t.Fatalf("csv import %+v %v", imp, err)
	}
	res, _ = p.Select(ctx, "Kunden", []NumberType{Work}, 0)
	if len(res.Valid) != 1 || res.Valid[0].Number != "+49302222222" || res.Valid[0].Vars["name"] != "Carla Wolf" {
		t.Errorf("select work %+v", res)
	}
}

// FuzzImportCSV: any input is either refused with an error or fully
// accounted for, with line numbers inside the file.
func FuzzImportCSV(f *testing.F) {
	for _, s := range []string{
		"phone,name\n+49301234567,Anna\n",
		"\ufeffTelefon;Vorname\r\n0171 1234567;\"Bernd\"\r\n",
		"a\tb\n\"x\ty\t+4930123\n",
		"phone\n\"\n\"\"\n+4930 1234567\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		res, err := ImportCSV(strings.NewReader(in), CSVOptions{Region: "DE"})
		if err != nil {
			return
		}
		lines := len(splitLines([]byte(in)))
		for _, p := range res.Invalid {
			if p.Line < 1 || p.Line > lines || p.Reason == "" {
				t.Fatalf("problem %+v outside 1..%d", p, lines)
			}
		}
		for _, r := range res.Valid {
			if r.Line < 1 || r.Line > lines || !strings.HasPrefix(r.Number, "+") {
				t.Fatalf("recipient %+v", r)
			}
		}
	})
}
