package recipients

import "testing"

// Seed 004: ids pasted separated by newline, space, comma or semicolon.
func TestParseIDsSeparatorsDuplicatesAndInvalid(t *testing.T) {
	t.Parallel()
	res, err := ParseIDs("123456789, 987654321;tg42\n555 123456789\nabc\n-5", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Valid {
		got = append(got, r.Number)
	}
	want := []string{"tg123456789", "tg987654321", "tg42", "tg555"}
	if len(got) != len(want) {
		t.Fatalf("valid %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("valid %v, want %v", got, want)
		}
	}
	if res.DuplicateCount() != 1 {
		t.Errorf("duplicates %d, want 1", res.DuplicateCount())
	}
	if len(res.Invalid) != 2 || res.Invalid[0].Line != 3 || res.Invalid[0].Input != "abc" || res.Invalid[0].ReasonCode.Code != "number.chat_id" {
		t.Errorf("invalid %+v", res.Invalid)
	}
}
