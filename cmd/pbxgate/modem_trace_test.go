package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// pbxgate modems trace NAME prints the AT lines both ways from the running
// daemon's modem (here the simulated sim1): pbxgate's set-up commands and
// the modem's answers.
func TestModemsTrace(t *testing.T) {
	t.Parallel()
	d := startOneSIM(t, "")
	out, stderr, code := runPbxgate(t, "", "modems", "trace", "--data", d.dataDir, "sim1")
	if code != 0 {
		t.Fatalf("pbxgate modems trace: %s", stderr)
	}
	for _, want := range []string{"-> AT+CMGF=0", "<- OK", "-> AT+CNMI=", "<- +CREG: 0,1"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runPbxgate(t, "", "modems", "trace", "--json", "--data", d.dataDir, "sim1")
	var rep modemTraceReply
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Modem != "sim1" || len(rep.Lines) < 10 {
		t.Fatalf("--json: code %d, %d lines\n%s", code, len(rep.Lines), out)
	}
	_, stderr, code = runPbxgate(t, "", "modems", "trace", "--data", d.dataDir, "nope")
	if code == 0 || !strings.Contains(stderr, `no modem named "nope"`) {
		t.Fatalf("unknown modem: code %d, %s", code, stderr)
	}
}
