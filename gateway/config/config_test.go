package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExampleLoadsAndEqualsDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse(Example, nil)
	if err != nil {
		t.Fatalf("example config does not load: %v", err)
	}
	def := Default()
	got, _ := cfg.Redacted()
	want, _ := def.Redacted()
	if string(got) != string(want) {
		t.Fatalf("example differs from defaults:\n got %s\nwant %s", got, want)
	}
}

func TestProblemsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		want       []string // substrings, each must appear in one problem
	}{
		{"unknown key", "log:\n  level: info\n  colour: red\n", []string{`line 3: log.colour: unknown key "colour"`}},
		{"bad level", "log:\n  level: verbose\n", []string{`line 2: log.level: "verbose" is not a level`}},
		{"wrong type", "modems:\n  simulate: two\n", []string{"line 2: modems.simulate: wrong type"}},
		{"bad duration", "shutdown_timeout: soon\n", []string{"line 1: shutdown_timeout"}},
		{"two problems", "http:\n  listen: nohost\nregion:\n  time_zone: Mars/Olympus\n",
			[]string{"line 2: http.listen", `line 4: region.time_zone: "Mars/Olympus"`}},
		{"modem pin", "modems:\n  devices:\n    - name: a\n      device: /dev/ttyUSB2\n      pin: abc\n",
			[]string{"line 5: modems.devices[0].pin: must be 4 to 8 digits"}},
		{"quiet hours", "modems:\n  devices:\n    - name: a\n      device: /dev/x\n      pacing:\n        quiet_hours: 25:00-07:00\n",
			[]string{"line 6: modems.devices[0].pacing.quiet_hours"}},
		{"channel names unknown modem", "sms_channels:\n  - name: sms\n    modems: [nope]\n",
			[]string{`line 3: sms_channels[0].modems[0]: no modem named "nope"`}},
		{"syntax", "log: [\n", []string{"invalid YAML"}},
		{"short link url with a path", "http:\n  short_link_url: https://go.example.com/x\n", // netscope: never dialled
			[]string{`http.short_link_url: "https://go.example.com/x" is not a bare http(s) address`}}, // netscope: never dialled
		{"trusted proxy", "http:\n  trusted_proxies: [192.168.1.10, 10.0.0.0/8, proxy.lan]\n", // netscope: parsed, never dialled
			[]string{`http.trusted_proxies[2]: "proxy.lan" is neither an address nor a CIDR`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tc.yaml), nil)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			for _, w := range tc.want {
				found := false
				for _, p := range ps {
					if strings.Contains(p.String(), w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem contains %q; got:\n%v", w, ps)
				}
			}
		})
	}
}

func TestSecretsFromEnvAndNeverPrinted(t *testing.T) {
	t.Parallel()
	y := "whatsapp:\n  enabled: true\n  phone_number_id: \"123\"\n  token: file-token\nmodems:\n  devices:\n    - name: ec25-1\n      device: /dev/ttyUSB2\n"
	env := []string{EnvWhatsAppAppSecret + "=s3cr3t-app", EnvWhatsAppVerify + "=verify-me", "PBXGATE_MODEM_PIN_EC25_1=1234", EnvWhatsAppToken + "=env-token"}
	cfg, err := Parse([]byte(y), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WhatsApp.Token.Reveal() != "env-token" || cfg.Modems.Devices[0].PIN.Reveal() != "1234" || cfg.WhatsApp.AppSecret.Reveal() != "s3cr3t-app" {
		t.Fatalf("env overrides not applied: %+v", cfg.WhatsApp)
	}
	out, err := cfg.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"env-token", "file-token", "1234", "s3cr3t-app", "verify-me"} {
		if strings.Contains(string(out), s) {
			t.Errorf("redacted config shows secret %q", s)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want not-exist error, got %v", err)
	}
}

// sip.keepalive and sip.extensions are checked with the key named.
func TestSIPKeepaliveAndExtensionsProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"sip:\n  keepalive: 100ms\n", "sip.keepalive: 100ms is out of range"},
		{"sip:\n  extensions:\n    - {ext: \"202\", max_body_bytes: 2000}\n", "sip.extensions[0].max_body_bytes: 2000 does not fit UDP"},
		{"sip:\n  extensions:\n    - {ext: \"202\"}\n    - {ext: \"202\"}\n", `sip.extensions[1].ext: "202" must be a unique`},
		{"sip:\n  extensions:\n    - {max_body_bytes: 400}\n", `sip.extensions[0].ext: "" must be`},
		{"sip:\n  sessions:\n    queues:\n      - {name: support, members: [\"202\"], max_body_bytes: 2000}\n", "sip.sessions.queues[0].max_body_bytes: 2000 does not fit UDP"},
		{"sip:\n  sessions:\n    queues:\n      - {name: support, members: [\"202\"], max_body_bytes: -1}\n", "sip.sessions.queues[0].max_body_bytes: -1 does not fit UDP"},
		{"sip:\n  extensions:\n    - {ext: \"202\", delivery_notices: imdn}\n", `sip.extensions[0].delivery_notices: "imdn": use text`},
		{"sip:\n  sessions:\n    text_blocks:\n      - {name: hours, text: \"Hallo {kunde}\"}\n", `sip.sessions.text_blocks[0].text: "{kunde}" is not a placeholder`},
		{"sip:\n  sessions:\n    text_blocks:\n      - {name: a b, text: x}\n", `sip.sessions.text_blocks[0].name: "a b" must be`},
		{"sip:\n  sessions:\n    text_blocks:\n      - {name: a, text: x}\n      - {name: A, text: y}\n", `sip.sessions.text_blocks[1].name: "A" must be a unique`},
		{"sip:\n  sessions:\n    text_blocks:\n      - {name: a, text: \" \"}\n", `sip.sessions.text_blocks[0].text: is empty`},
	} {
		_, err := Parse([]byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a problem containing %q", tc.yaml, err, tc.want)
		}
	}
	c, err := Parse([]byte("sip:\n  keepalive: 0s\n  extensions:\n    - {ext: \"202\", max_body_bytes: 450}\n"), nil)
	if err != nil || c.SIP.Keepalive != 0 || len(c.SIP.Extensions) != 1 || c.SIP.Extensions[0].MaxBodyBytes != 450 {
		t.Fatalf("valid settings: %+v %v", c.SIP, err)
	}
}

func TestShortLinkURLAndTrustedProxiesAccepted(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("http:\n  short_link_url: https://go.example.com/\n  trusted_proxies: [192.168.1.10, 10.0.0.0/8, \"::1\"]\n"), nil) // netscope: parsed, never dialled
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.ShortLinkURL != "https://go.example.com/" || len(c.HTTP.TrustedProxies) != 3 { // netscope: never dialled
		t.Fatalf("http = %+v", c.HTTP)
	}
}
