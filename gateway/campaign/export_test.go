package campaign

import (
	"bytes"
	"encoding/csv"
	"testing"
)

// Cells starting with = + - @ TAB or CR are neutralised (OWASP, "CSV
// Injection": prefix a single quote); exact E.164 numbers stay readable.
func TestCSVCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://x\")":    "'=HYPERLINK(\"http://x\")", // netscope: cell text, never fetched
		"+SUM(1+1)*cmd|' /C calc'!A0": "'+SUM(1+1)*cmd|' /C calc'!A0",
		"-2+3+cmd|' /C calc'!A0":      "'-2+3+cmd|' /C calc'!A0",
		"@SUM(1+1)":                   "'@SUM(1+1)",
		"\t=1+1":                      "'\t=1+1",
		"\r=1+1":                      "'\r=1+1",
		"-1":                          "'-1",
		"+43 664 1234567":             "'+43 664 1234567",   // not E.164: spaces
		"+0123456":                    "'+0123456",          // E.164 has no leading 0
		"+1234567890123456":           "'+1234567890123456", // 16 digits: too long
		"+4366412345678":              "+4366412345678",
		"+491711234567":               "+491711234567",
		"+12":                         "+12",
		"Anna":                        "Anna",
		"a=b":                         "a=b",
		"":                            "",
		" =1":                         " =1", // leading space: spreadsheets take it as text
	} {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// The export neutralises every column: variables, the reason, and the
// header (variable names come from an uploaded CSV).
func TestExportCSVNeutralisesCells(t *testing.T) {
	t.Parallel()
	ch := newTestChannel("sms-1", newLedger())
	rs := numbers(2)
	rs[0].Vars["=cmd"], rs[0].Vars["note"] = "+SUM(1)", "-1+cmd|' /C calc'!A0"
	rs[1].Vars["=cmd"], rs[1].Vars["note"] = "@x", "\t=1"
	ev := newEnv(t, "", Config{}, ch)
	c, err := ev.e.Create(bg, smsSpec("Export", "sms-1", "now"), rs)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitState(c.ID, Completed)
	var buf bytes.Buffer
	if err := ev.e.ExportCSV(bg, c.ID, &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("rows %q", rows)
	}
	for i, row := range rows {
		for j, cell := range row {
			if cell != "" && cell[0] != '\'' && CSVCell(cell) != cell {
				t.Errorf("row %d column %d: %q not neutralised", i, j, cell)
			}
		}
	}
	// Columns: number, =cmd, first_name, note, …
	if rows[0][1] != "'=cmd" || rows[1][0] != rs[0].Number || rows[1][1] != "'+SUM(1)" || rows[2][3] != "'\t=1" {
		t.Errorf("export %q", rows)
	}
	if rows[1][0][0] != '+' {
		t.Errorf("number %q not kept as E.164", rows[1][0])
	}
}
