package modem

import (
	"reflect"
	"testing"
)

func TestFilterURCs(t *testing.T) {
	t.Parallel()
	info := []string{"+CMGL: 0,1,,23", `+CMTI: "SM",4`, "0791947101670000040B91", "RING", "^RSSI: 17", "+CREG: 1", "+QIND: SMS DONE"}
	got := filterURCs("+CMGL=4", info)
	want := []string{"+CMGL: 0,1,,23", "0791947101670000040B91"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("filterURCs = %q, want %q", got, want)
	}
	// A command's own answer is never filtered, even when it looks like a URC.
	if got := filterURCs("+CREG?", []string{"+CREG: 0,1", `+CMTI: "ME",1`}); !reflect.DeepEqual(got, []string{"+CREG: 0,1"}) {
		t.Fatalf("CREG answer: %q", got)
	}
	if got := filterURCs("^ICCID?", []string{"^ICCID: 98941020", "^RSSI: 3"}); !reflect.DeepEqual(got, []string{"^ICCID: 98941020"}) {
		t.Fatalf("Huawei answer: %q", got)
	}
}

func TestParseCMGL(t *testing.T) {
	t.Parallel()
	got := parseCMGL([]string{"+CMGL: 0,1,,23", "AAAA", "+CMGL: 3,3,,20", "BBBB", "+CMGL: 5,0,\"x,y\",21", "CCCC", "+CMGL: 7,0,,2"})
	want := []storedMessage{{0, 1, "AAAA"}, {3, 3, "BBBB"}, {5, 0, "CCCC"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseCMGL = %+v, want %+v", got, want)
	}
}

func TestFieldsAndAnswers(t *testing.T) {
	t.Parallel()
	if got := fields(`0,0,"Telekom.de, DE",7`); !reflect.DeepEqual(got, []string{"0", "0", "Telekom.de, DE", "7"}) {
		t.Fatalf("fields = %q", got)
	}
	if got := parseMemories([]string{`+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")`}); !reflect.DeepEqual(got, []string{"SM", "ME", "SR"}) {
		t.Fatalf("parseMemories = %q", got)
	}
	// Huawei: raw EF_ICCID, digit pairs swapped, odd length padded with F.
	if got := cleanICCID("989420000000000000F1", true); got != "8949020000000000001" {
		t.Fatalf("cleanICCID swapped = %q", got)
	}
	if got := cleanICCID("8949020000000000001F", false); got != "8949020000000000001" {
		t.Fatalf("cleanICCID = %q", got)
	}
	if got := cleanRevision("Revision:1418B04SIM800L24"); got != "1418B04SIM800L24" {
		t.Fatalf("cleanRevision = %q", got)
	}
	if got := answer(`+CGSN: "867123456789012"`); got != "867123456789012" {
		t.Fatalf("answer = %q", got)
	}
}

func TestSignal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ csq, dbm, bars int }{
		{99, 0, 0}, {0, -113, 0}, {2, -109, 1}, {10, -93, 3}, {15, -83, 4}, {20, -73, 5}, {31, -51, 5},
	} {
		if dbm, bars := signal(tc.csq); dbm != tc.dbm || bars != tc.bars {
			t.Errorf("signal(%d) = %d dBm %d bars, want %d %d", tc.csq, dbm, bars, tc.dbm, tc.bars)
		}
	}
}

func TestCMSReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code             int
		retryable, fault bool
	}{
		{1, false, false}, {8, true, true}, {10, true, true}, {21, false, false}, {27, true, false},
		{28, false, false}, {29, true, true}, {30, false, false}, {38, true, true}, {41, true, false},
		{42, true, false}, {47, true, false}, {50, true, true}, {69, true, true}, {81, true, false},
		{96, false, false}, {111, true, false}, {127, true, false}, {0xC3, false, false},
		{300, true, true}, {304, false, false}, {310, true, true}, {322, true, true}, {330, true, true},
		{331, true, true}, {332, true, true}, {500, true, true}, {513, true, true},
		{100, true, false}, // unlisted network cause
	} {
		reason, retry, fault := CMSReason(tc.code)
		if reason == "" || retry != tc.retryable || fault != tc.fault {
			t.Errorf("CMS %d = %q retryable=%v modemFault=%v, want %v %v", tc.code, reason, retry, fault, tc.retryable, tc.fault)
		}
	}
}
