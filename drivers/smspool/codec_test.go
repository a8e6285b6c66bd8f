package smspool

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// The pool stores its records with store's fast codec (the SMS path's hot
// loop); what it writes is what encoding/json wrote before, so data
// directories from before load, and readers that still use encoding/json
// read the new records. Checked on records as the pool writes them.
func TestRecordsCodecMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 4, 5, 678, time.UTC)
	values := []any{
		&record{Msg: message.Outbound{ID: "campaign-7-12-1", Channel: "main", To: "+4915112000012", Text: "Grüße <b>&</b> 😀 €", Ref: "campaign/7", Class: message.Bulk, DeliveryReport: true},
			Seq: 1 << 40, Status: message.Sending, SIM: "gsm1", Attempts: 2, Tried: []string{"gsm2"}, QueuedAt: at, UpdatedAt: at},
		&record{Msg: message.Outbound{ID: "x/y z", Channel: "main", To: "+49", Text: "bad \xff"}, Status: message.Failed,
			Reason: "CMS ERROR 38", ReasonCode: message.Reason{Code: "sms.cms", Args: []string{"38"}, Cause: &message.Reason{Code: "x"}},
			Code: "CMS 38", Retryable: true, NotBefore: at, Parts: []part{{MR: 1, Status: "delivered"}, {MR: 2}}, QueuedAt: at, UpdatedAt: at},
		&message.StatusEvent{ID: "a", Ref: "campaign/7", Status: message.Sent, Sender: "gsm1", ChannelID: "mr:1,2", At: at},
		&mrRef{ID: "campaign-7-12-1", Part: 1, To: "+4915112000012"},
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
		a := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		b := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := json.Unmarshal(got, a); err != nil {
			t.Fatal(err)
		}
		if err := store.UnmarshalFast(want, b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%T decodes differently:\n%+v\n%+v", v, a, b)
		}
		if string(got) != string(want) && !reflect.DeepEqual(a, func() any {
			c := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			_ = json.Unmarshal(want, c)
			return c
		}()) {
			t.Errorf("%T:\nencoding/json %s\nfast codec    %s", v, want, got)
		}
	}
}
