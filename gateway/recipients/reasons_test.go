package recipients

import (
	"slices"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Every rejection carries the reason code the portal translates, with the
// arguments the English text shows; the English text itself is unchanged.
func TestRejectionReasonCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, region string
		code       string
		args       []string
		text       string
	}{
		{"", "DE", "number.empty", nil, "invalid phone number: empty"},
		{"0171 abc", "DE", "number.letters", []string{"0171 abc", "a"}, `invalid phone number: "0171 abc" is not a number (contains 'a')`},
		{"---", "DE", "number.not_number", []string{"---"}, `invalid phone number: "---" is not a number`},
		{"0171", "DE", "number.too_short", []string{"0171"}, `invalid phone number: "0171" is too short`},
		{"0171 1234567", "", "number.no_region", []string{"0171 1234567"}, `invalid phone number: "0171 1234567" is a national number`},
		{"0171 12", "DE", "number.invalid_region", []string{"0171 12", "DE"}, `invalid phone number: "0171 12" is not a valid number for DE`},
		{"+49 171 1234567890123456", "DE", "number.too_long", []string{"+49 171 1234567890123456"}, "is too long"},
	} {
		_, err := Normalize(tc.in, tc.region)
		if err == nil {
			t.Fatalf("Normalize(%q) accepted", tc.in)
		}
		r := message.ReasonOf(err)
		if r.Code != tc.code || !slices.Equal(r.Args, tc.args) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("Normalize(%q, %q) = %q with %+v, want %s %q and text %q", tc.in, tc.region, err, r, tc.code, tc.args, tc.text)
		}
	}

	res, err := ImportCSV(strings.NewReader("name;phone\nAnna;0171 1234567\nBernd;0171 12\nCarla;\nDora;\"0171\" 1\nEmil;01\"71\n"), CSVOptions{Region: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Invalid {
		got = append(got, p.ReasonCode.Code)
		if p.Reason == "" {
			t.Errorf("line %d: no English reason", p.Line)
		}
	}
	if want := []string{"number.invalid_region", "csv.no_number", "csv.open_quote", "csv.bare_quote"}; !slices.Equal(got, want) {
		t.Errorf("CSV problem codes %q, want %q (%+v)", got, want, res.Invalid)
	}

	res, _ = ParsePaste("0171 1234567\n12ab\n", "DE", 0)
	if len(res.Invalid) != 1 || res.Invalid[0].ReasonCode.Code != "number.letters" {
		t.Errorf("paste problems %+v", res.Invalid)
	}
}
