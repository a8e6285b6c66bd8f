package campaign

import (
	"encoding/json"
	"reflect"
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
