package recipients

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func openText(text string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(text)), nil }
}

// TestGatherMergesSources: typed numbers, a CSV file, a phonebook and a
// group are read, normalised to E.164 (ITU-T E.164; German national
// numbers with the DE region) and merged, a number in two sources once.
func TestGatherMergesSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	if _, err := NewPhonebooks(st).ImportCSV(ctx, "Kunden", strings.NewReader("Name,Handy\nCarla,0171 1111111\nDora,0171 2222222\n"), CSVOptions{Region: "DE"}); err != nil {
		t.Fatal(err)
	}
	group := func(_ context.Context, name string) ([]Recipient, []Problem, error) {
		if name != "news" {
			return nil, nil, fmt.Errorf("%w: group %q", ErrNoList, name)
		}
		return []Recipient{{Number: "0171 3333333"}, {Number: "+491711111111"}},
			[]Problem{{Input: "+491714444444", Reason: "opted out"}}, nil
	}
	g := Gatherer{Store: st, Region: "DE", Group: group}
	src := Sources{Numbers: "0171 1111111\nnotanumber", CSV: openText("phone\n+49 171 5555555\n0171 2222222\n"),
		Phonebook: "Kunden", NumberTypes: []NumberType{Mobile}, Group: "news"}

	got := g.Gather(ctx, src)
	var nums []string
	for _, r := range got.Valid {
		nums = append(nums, r.Number)
	}
	if want := "+491711111111 +491715555555 +491712222222 +491713333333"; strings.Join(nums, " ") != want {
		t.Errorf("valid = %v, want %s", nums, want)
	}
	if len(got.Invalid) != 1 || got.Invalid[0].Field != "numbers" || got.Invalid[0].Input != "notanumber" {
		t.Errorf("invalid = %+v", got.Invalid)
	}
	if len(got.Excluded) != 1 || got.Excluded[0].Field != "group" {
		t.Errorf("excluded = %+v", got.Excluded)
	}
	// Invalid rows and excluded members refuse the sources …
	if codes := problemCodes(got); codes != "group:group_excluded numbers:invalid_rows" {
		t.Errorf("problems = %s", codes)
	}
	// … unless they are to be skipped.
	src.SkipInvalid = true
	got = g.Gather(ctx, src)
	if len(got.Problems) != 0 || len(got.Skipped()) != 2 || len(got.Valid) != 4 {
		t.Errorf("skip invalid: problems %+v, skipped %d, valid %d", got.Problems, len(got.Skipped()), len(got.Valid))
	}
}

// TestGatherProblems: each source says what is wrong with it, one problem
// a field.
func TestGatherProblems(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := Gatherer{Store: openStore(t), Region: "DE", Limit: 2}
	broken := errors.New("disk on fire")
	for _, tc := range []struct {
		name string
		src  Sources
		want string
	}{
		{"nothing", Sources{}, "numbers:required"},
		{"nothing, editing", Sources{Edit: true}, ""},
		{"too many typed", Sources{Numbers: "0171 1111111\n0171 2222222\n0171 3333333"}, "numbers:too_many"},
		{"csv without phone", Sources{CSV: openText("name\nAnna\n")}, "csv:no_phone_column"},
		{"csv unreadable", Sources{CSV: func() (io.ReadCloser, error) { return nil, broken }}, "csv:unreadable"},
		{"unknown phonebook", Sources{Phonebook: "nope", NumberTypes: []NumberType{Mobile}}, "phonebook:not_found numbers:required"},
		{"phonebook without type", Sources{Phonebook: "nope"}, "number_type:required phonebook:not_found numbers:required"},
		{"unknown group", Sources{Group: "nope"}, "group:not_found numbers:required"},
	} {
		got := problemCodes(g.Gather(ctx, tc.src))
		if got != tc.want {
			t.Errorf("%s: problems %q, want %q", tc.name, got, tc.want)
		}
	}
	res := g.Gather(ctx, Sources{CSV: func() (io.ReadCloser, error) { return nil, broken }})
	if !errors.Is(res.Problems[0].Err, broken) {
		t.Errorf("unreadable CSV lost its cause: %v", res.Problems[0].Err)
	}
}

func problemCodes(g Gathered) string {
	var out []string
	for _, p := range g.Problems {
		out = append(out, p.Field+":"+p.Code)
	}
	return strings.Join(out, " ")
}

// TestGatherChatIDsAndList: with ChatIDs the typed entries are a Telegram
// bot's chat ids ("tg<id>"; a username is not one), and a
// contact list as the source needs no other recipients.
func TestGatherChatIDsAndList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := Gatherer{Store: openStore(t), Region: "DE"}
	got := g.Gather(ctx, Sources{Numbers: "123456789\ntg987654321, 123456789\n@kundin", ChatIDs: true})
	var ids []string
	for _, r := range got.Valid {
		ids = append(ids, r.Number)
	}
	if want := "tg123456789 tg987654321"; strings.Join(ids, " ") != want {
		t.Errorf("chat ids = %v, want %s", ids, want)
	}
	if len(got.Invalid) != 1 || got.Invalid[0].Field != "numbers" || got.Invalid[0].Input != "@kundin" {
		t.Errorf("invalid = %+v, want @kundin", got.Invalid)
	}
	if got := g.Gather(ctx, Sources{}); !got.Has("numbers") {
		t.Errorf("no sources: problems %+v, want numbers required", got.Problems)
	}
	if got := g.Gather(ctx, Sources{List: true}); len(got.Problems) != 0 {
		t.Errorf("contact list as the source: problems %+v, want none", got.Problems)
	}
}
