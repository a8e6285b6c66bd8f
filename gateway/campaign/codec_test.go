package campaign

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Recipients and campaigns are stored with store's fast codec on the send
// path; it writes what encoding/json wrote before (campaigns stored by
// older versions load, other readers read the new ones).
func TestCodecMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 4, 5, 678, time.UTC)
	values := []any{
		&Recipient{Seq: 12, Number: "+4915112000012", Vars: map[string]string{"n": "12", "name": "Jörg <&>"}, Line: 13,
			Status: RSent, Attempt: 1, MsgID: "campaign-7-12-1", Sender: "gsm1", ChannelID: "mr:3", SendingAt: at, AcceptedAt: at, SentAt: at},
		&Recipient{Seq: 1, Number: "+49", Status: RFailed, Reason: "no", ReasonCode: message.Reason{Code: "c", Args: []string{"a"}},
			Fallback: &FallbackState{MsgID: "f", At: at}},
		&Campaign{ID: "7", Spec: Spec{Name: "Herbst", Channel: "main", Content: Content{Text: "A {{n}}"}, When: When{Kind: "now"}},
			State: Running, Attempt: 1, Recipients: 1000, Counts: Counts{Queued: 990, Sent: 10}, CreatedAt: at, UpdatedAt: at,
			History: []Transition{{From: Draft, To: Running, Reason: "start", At: at}}},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := store.MarshalFast(v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%T:\nencoding/json %s\nfast codec    %s", v, want, got)
		}
		a := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := store.UnmarshalFast(want, a); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, v) {
			t.Errorf("%T read back as\n%+v\nwant %+v", v, a, v)
		}
	}
}

// placeholder is the regexp render used before replacePlaceholders.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}]+?)\s*\}\}`)

// replacePlaceholders finds and replaces what the placeholder regexp
// (the reference: Go's regexp, leftmost-first) finds, on random texts
// made of braces, spaces and letters.
func TestReplacePlaceholdersLikeRegexp(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 14))
	alphabet := []string{"{", "}", "{{", "}}", " ", "n", "ab", "ä", "\t"}
	f := func(m string) string { return "<" + strings.ToUpper(m) + ">" }
	for range 20000 {
		var sb strings.Builder
		for range rnd.IntN(12) {
			sb.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		text := sb.String()
		want := placeholder.ReplaceAllStringFunc(text, f)
		if got := replacePlaceholders(text, f); got != want {
			t.Fatalf("%q: got %q, regexp gives %q", text, got, want)
		}
	}
}
