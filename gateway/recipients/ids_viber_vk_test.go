package recipients

import (
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Seed 004: ids pasted with newlines, spaces, commas and semicolons;
// Viber ids keep their case and base64 characters, VK ids take the
// vk/id prefixes; anything else is an invalid entry with its line.
func TestParseKindIDsViberAndVK(t *testing.T) {
	res, err := ParseKindIDs(message.Viber, "01234567890A=, vbAbC+/d==;vb:xyz\nnicht-gültig! @kundin", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Valid {
		got = append(got, r.Number)
	}
	if len(got) != 3 || got[0] != "vb01234567890A=" || got[1] != "vbAbC+/d==" || got[2] != "vbxyz" {
		t.Fatalf("viber valid %v", got)
	}
	if len(res.Invalid) != 2 || res.Invalid[0].Line != 2 {
		t.Fatalf("viber invalid %+v", res.Invalid)
	}
	res, err = ParseKindIDs(message.VK, "123456 vk654321;id42,VK:7\n2000000001 abc", 0)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, r := range res.Valid {
		got = append(got, r.Number)
	}
	if len(got) != 4 || got[0] != "vk123456" || got[1] != "vk654321" || got[2] != "vk42" || got[3] != "vk7" {
		t.Fatalf("vk valid %v", got)
	}
	if len(res.Invalid) != 2 {
		t.Fatalf("vk invalid %+v (a chat peer 2000000001 and abc)", res.Invalid)
	}
	for _, k := range []message.Kind{message.Viber, message.VK, message.Telegram, message.Messenger, message.Instagram} {
		if !k.ByID() || !k.Known() {
			t.Fatalf("%s: ByID %v Known %v", k, k.ByID(), k.Known())
		}
	}
	if message.SMS.ByID() || message.WhatsApp.ByID() {
		t.Fatal("sms/whatsapp contacts are phone numbers")
	}
}
