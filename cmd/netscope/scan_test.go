// netscope:file tables of addresses the scanner must judge; nothing is dialled

package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRepositoryStaysOnLoopback is the check itself (issue 24): the
// repository's tests, scripts and test configurations name no target
// outside this machine.
func TestRepositoryStaysOnLoopback(t *testing.T) {
	found, err := Scan("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Error(f)
	}
}

func TestTargets(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		// Targets outside loopback, documentation ranges included (RFC 5737).
		{`REGISTRAR=192.0.2.1:5060`, []string{"192.0.2.1"}},
		{`peer_address: "10.0.0.5:5060"`, []string{"10.0.0.5"}},
		{`u := "https://graph.facebook.com/v21.0/123/messages"`, []string{"graph.facebook.com"}},
		{`"sip:alice@pbx.example.com;transport=tcp"`, []string{"pbx.example.com"}},
		{`to := "sips:201@10.1.1.1:5061"`, []string{"10.1.1.1"}},
		{`http://user:pw@198.51.100.7:8080/x`, []string{"198.51.100.7"}},
		{`dial("[2001:db8::1]:5060")`, []string{"[2001:db8::1]"}},
		{`two 203.0.113.5 and 203.0.113.6`, []string{"203.0.113.5", "203.0.113.6"}},
		{`registrar: pbx.example.com:5060`, []string{"pbx.example.com"}},
		// On this machine.
		{`listen: 127.0.0.1:8080`, nil},
		{`"http://127.0.0.2:9/x"`, nil},
		{`http://localhost:8080/healthz`, nil},
		{`sip:gw@[::1]:5060`, nil},
		{`bind 0.0.0.0:5060 and [::]:80`, nil},
		{`wss://pbx.localhost/ws`, nil},
		// Not targets: networks, versions, placeholders.
		{`allow_from: [10.0.0.0/8, 192.0.2.0/24]`, nil},
		{`version 1.2.3.4.5 of the OID 1.3.6.1.4.1`, nil},
		{`fmt.Sprintf("http://%s/x", addr)`, nil},
		{`curl "http://$HOST:$PORT/healthz"`, nil},
		{`From: <sip:201@[local_ip]:[local_port]>;tag=[pid]`, nil},
		{`retransmits after T1 (RFC 3261 §17.1.2.2)`, nil},
		{`To: <sip:gw@[remote_ip]>`, nil},
		{`t := time.Now(); x := cfg.Listen`, nil},
	} {
		if got := Targets(c.line); !slices.Equal(got, c.want) {
			t.Errorf("Targets(%q) = %q, want %q", c.line, got, c.want)
		}
	}
}

func TestScanMarkersAndFiles(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The fixture list names files that must exist in the scanned tree.
	for p := range fixtures {
		write(p, `{"url": "https://example.com/x"}`)
	}
	write("x/a_test.go", `package x
var a = "10.0.0.1:5060"
var b = "10.0.0.2:5060" // netscope: parsed only
// netscope: a table of parsed URLs
// (several comment lines in a row)
var c = "https://example.com/"
var d = "https://example.org/" // netscope:
`)
	write("x/run.sh", "# curl http://192.0.2.7/ in a comment is never run\ncurl http://192.0.2.1/\n# netscope: shown in usage text\necho http://192.0.2.2/\n")
	write("x/testdata/peer.yaml", "registrar: sip.example.net:5060\n")
	write("x/b_test.go", "// Package x.\n// netscope:file only parsed here\n\npackage x\nvar a = \"https://example.net/\"\n")
	write("x/c_test.go", "package x\n// netscope:file too late: not in the leading comment\nvar b = 1\nvar a = \"https://example.net/\"\n")
	write("x/main.go", `var prod = "https://graph.facebook.com"`+"\n") // product code is not scanned
	write("docs/x.md", "http://192.0.2.9/\n")
	write("x/testdata/artifacts/shot.txt", "http://192.0.2.3/\n") // a test's output
	write("x/testdata/capture.bin", "\x89PNG\x00\x1a G.KMQ:6 http://192.0.2.4/\n")
	found, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range found {
		got = append(got, f.Path+":"+f.Target)
	}
	want := []string{"x/a_test.go:10.0.0.1", "x/a_test.go:example.org", "x/c_test.go:example.net", "x/run.sh:192.0.2.1", "x/testdata/peer.yaml:sip.example.net"}
	if !slices.Equal(got, want) {
		t.Fatalf("findings %q, want %q (a marker needs a reason)", got, want)
	}
}
