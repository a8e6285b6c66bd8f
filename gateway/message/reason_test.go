package message

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

var (
	tLeaf = NewCode("test.leaf", 1)
	tWrap = NewWrapCode("test.wrap", 1)
)

func TestReasonCodes(t *testing.T) {
	r := tLeaf.R(38, "extra")
	if r.Code != "test.leaf" || !slices.Equal(r.Args, []string{"38"}) || r.Cause != nil {
		t.Fatalf("R = %+v", r)
	}
	w := tWrap.Wrap(r, 3)
	if w.Code != "test.wrap" || !slices.Equal(w.Args, []string{"3"}) || w.Cause == nil || w.Cause.Code != "test.leaf" {
		t.Fatalf("Wrap = %+v", w)
	}
	if z := tWrap.Wrap(Reason{}, 3); !z.IsZero() {
		t.Errorf("wrapping an uncoded cause = %+v, want zero (English text shown)", z)
	}
	if z := tWrap.R(1); !z.IsZero() {
		t.Errorf("a wrapping code without cause = %+v, want zero", z)
	}
	if z := tLeaf.Wrap(r, 1); !z.IsZero() {
		t.Errorf("a leaf code with a cause = %+v, want zero", z)
	}
	names := map[string]CodeInfo{}
	for _, c := range Codes() {
		names[c.Name] = c
	}
	if names["test.wrap"] != (CodeInfo{Name: "test.wrap", Args: 1, Cause: true}) || names["test.leaf"].Args != 1 {
		t.Errorf("Codes() = %+v", Codes())
	}
}

func TestReasonOf(t *testing.T) {
	base := errors.New("SMS not sent")
	err := WithReason(base, tLeaf.R(1))
	if !errors.Is(err, base) || err.Error() != "SMS not sent" {
		t.Fatalf("WithReason changed the error: %v", err)
	}
	if r := ReasonOf(err); r.Code != "test.leaf" {
		t.Errorf("ReasonOf = %+v", r)
	}
	// Text added around the coded error: the code alone would lose it.
	outer := fmt.Errorf("channel sms1: %w", err)
	if r := ReasonOf(outer); !r.IsZero() {
		t.Errorf("ReasonOf(wrapped with text) = %+v, want zero", r)
	}
	if r, text := CauseOf(outer); r.Code != "test.leaf" || text != "SMS not sent" {
		t.Errorf("CauseOf = %+v %q", r, text)
	}
	if r := ReasonOf(errors.New("plain")); !r.IsZero() {
		t.Errorf("ReasonOf(plain) = %+v", r)
	}
	if WithReason(nil, tLeaf.R(1)) != nil || WithReason(base, Reason{}) != base {
		t.Error("WithReason must leave nil and uncoded errors alone")
	}
}

// Rank never lets a late event move a message backwards: each status
// outranks the ones before it, unknown yields to any news that it went out.
func TestStatusRank(t *testing.T) {
	order := [][]Status{{Queued}, {Sending}, {Unknown}, {Sent}, {Delivered}, {Read, Failed}}
	for i, group := range order {
		for _, s := range group {
			if s.Rank() != i {
				t.Errorf("%s ranks %d, want %d", s, s.Rank(), i)
			}
		}
	}
	if Status("deleted").Rank() >= Queued.Rank() {
		t.Error("a status pbxgate does not know outranks queued")
	}
}
