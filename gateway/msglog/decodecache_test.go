package msglog

import (
	"reflect"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Log.entries caches an Entry as written (store.DecodeCache): only right
// while every field survives the JSON round trip unchanged. A field JSON
// skips, or a time kept with a location, fails this.
func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	e := Entry{ID: "campaign-1-2-1", Direction: Out, Kind: message.SMS, Channel: "main", Peer: "+4915112345678",
		Local: "gsm1", Name: "Anna", Text: "Hallo", Origin: OriginCampaign, OriginID: "1", Status: message.Failed,
		Reason: "not delivered", ReasonCode: message.Reason{Code: "x", Args: []string{"a"}, Cause: &message.Reason{Code: "y"}},
		Code: "CMS 38", Created: at, Updated: at.Add(time.Second), Box: "box1"}
	ev := reflect.ValueOf(e)
	for i := range ev.NumField() {
		if ev.Field(i).IsZero() {
			t.Fatalf("field %s not set: the test must cover every field", ev.Type().Field(i).Name)
		}
	}
	b, err := store.MarshalFast(&e)
	if err != nil {
		t.Fatal(err)
	}
	var back Entry
	if err := store.UnmarshalFast(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, back)
	}
}
