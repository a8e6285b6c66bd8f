package modem

import (
	"encoding/hex"
	"testing"

	"github.com/warthog618/sms/encoding/gsm7"
)

func TestUSSDPacking(t *testing.T) {
	t.Parallel()
	// The well-known Huawei balance request.
	if got := packUSSD("*100#"); got != "AA180C3602" {
		t.Fatalf("packUSSD(*100#) = %s, want AA180C3602", got)
	}
	for _, s := range []string{"", "a", "abcdefg", "abcdefgh", "Ihre Rufnummer: +4915100000001", "Balance: 12,34 EUR; valid until 31.12.", "*101#"} {
		b, err := hex.DecodeString(packUSSD(s))
		if err != nil {
			t.Fatal(err)
		}
		got, err := gsm7.Decode(unpackUSSD(b))
		if err != nil || string(got) != s {
			t.Errorf("round trip %q = %q, %v", s, got, err)
		}
	}
}
