package modem

import (
	"encoding/hex"
	"testing"
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
		if got := decodeUSSD(packUSSD(s), 15, true); got != s || len(b) != (len(s)*7+7)/8 {
			t.Errorf("round trip %q = %q (%d octets)", s, got, len(b))
		}
	}
}
