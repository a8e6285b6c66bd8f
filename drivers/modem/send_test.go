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

// AT+CMGS answers "+CMGS: <mr>[,<ackpdu>]" (3GPP TS 27.005 §3.5.1, PDU
// mode); "+CMGS: 64" is the SIM800L's (python-gsmmodem#44), "+CMGS: 78"
// the EC25's (testdata/replay/quectel-ec25-cdsi-sm.txt).
func TestMessageRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		info []string
		mr   int
		ok   bool
	}{
		{[]string{"+CMGS: 64"}, 64, true},
		{[]string{"+CMGS: 78"}, 78, true},
		{[]string{"+CMGS:5"}, 5, true},
		{[]string{"+CMGS: 12,0011000A8100"}, 12, true},
		{[]string{"+CMTI: \"SM\",3", "+CMGS: 255"}, 255, true},
		{nil, 0, false},
		{[]string{"+CMGS: x"}, 0, false},
	} {
		mr, ok := messageRef(tc.info)
		if ok != tc.ok || (ok && mr != tc.mr) {
			t.Errorf("messageRef(%q) = %d, %v; want %d, %v", tc.info, mr, ok, tc.mr, tc.ok)
		}
	}
}
