package config

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds configuration files to Parse (YAML decoding with known
// fields only, line lookup, environment overrides, validation). Seeds are
// the shipped example configuration and small files with the mistakes
// admins make (unknown key, wrong type, bad value, tabs, duplicate keys).
//
// Properties: a file is either accepted or refused with Problems, each
// with a message and a line within the file (0 when the key is absent); an
// accepted configuration printed by Redacted (what `pbxgate config check
// --print` shows) is itself accepted and prints the same again, as long as
// it has no masked secrets (a masked PIN is no PIN).
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("pbxgate.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range []string{
		"",
		"http:\n  listen: 127.0.0.1:8080\n",
		"http:\n  listen: nonsense\n",
		"htp:\n  listen: 127.0.0.1:8080\n",
		"store:\n  dir: 12\n",
		"modems:\n  devices:\n    - name: a\n      path: /dev/ttyUSB2\n      pin: abc\n",
		"http:\n\tlisten: x\n",
		"log:\n  level: debug\nlog:\n  level: info\n",
		"sip:\n  enabled: true\n  mode: peer\n",
		"a: &x [*x]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, nil)
		// Lines as YAML counts them: CR LF, LF and a lone CR each end one
		// (YAML 1.2 §5.4; found by this target: "\"\r\r" is on line 3).
		lines := bytes.Count(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n")) +
			bytes.Count(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r")) + 1
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %v (%T) is not a list of problems", err, err)
			}
			for _, p := range ps {
				if p.Msg == "" {
					t.Fatalf("problem without a message: %+v", p)
				}
				if p.Line < 0 || p.Line > lines+1 {
					t.Fatalf("problem %+v points at line %d of %d", p, p.Line, lines)
				}
			}
			return
		}
		out, err := cfg.Redacted()
		if err != nil {
			t.Fatalf("accepted configuration does not print: %v", err)
		}
		if bytes.Contains(out, []byte(masked)) {
			return
		}
		cfg2, err := Parse(out, nil)
		if err != nil {
			t.Fatalf("printed configuration is refused: %v\n%s", err, out)
		}
		out2, err := cfg2.Redacted()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("printing is not stable:\n%s\n---\n%s", out, out2)
		}
	})
}
