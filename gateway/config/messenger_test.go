// netscope:file the Messenger/Instagram sections here are only parsed and validated, never dialled.
package config

import (
	"strings"
	"testing"
)

func TestMessengerInstagramSections(t *testing.T) {
	cfg, err := Parse([]byte("messenger:\n  enabled: true\n  account_id: '682498302938465'\ninstagram:\n  enabled: true\n  account_id: '17841400000000001'\n  api_url: https://graph.instagram.com\n"),
		[]string{EnvMessengerToken + "=EAAG-page", EnvMessengerAppSecret + "=s1", EnvMessengerVerify + "=v1",
			EnvInstagramToken + "=IGAA-user", EnvInstagramAppSecret + "=s2", EnvInstagramVerify + "=v2"})
	if err != nil {
		t.Fatal(err)
	}
	m, ig := cfg.Messenger, cfg.Instagram
	if m.Token.Reveal() != "EAAG-page" || m.AppSecret.Reveal() != "s1" || m.VerifyToken.Reveal() != "v1" || m.Name != "messenger" || m.APIVersion != "v21.0" {
		t.Fatalf("messenger %+v", m)
	}
	if ig.Token.Reveal() != "IGAA-user" || ig.AppSecret.Reveal() != "s2" || ig.Name != "instagram" || ig.APIURL != "https://graph.instagram.com" {
		t.Fatalf("instagram %+v", ig)
	}
	for _, tc := range []struct{ yaml, key string }{
		{"messenger: {enabled: true, account_id: '682498302938465'}", "messenger.token"},
		{"messenger: {enabled: true, token: t, app_secret: s, verify_token: v}", "messenger.account_id"},
		{"messenger: {enabled: true, account_id: '682498302938465', token: t, verify_token: v}", "messenger.app_secret"},
		{"instagram: {enabled: true, account_id: '17841400000000001', token: t, app_secret: s}", "instagram.verify_token"},
		{"instagram: {account_id: 'my page'}", "instagram.account_id"},
		{"messenger: {api_version: '21'}", "messenger.api_version"},
		{"messenger: {messages_per_second: 0}", "messenger.messages_per_second"},
		{"instagram: {api_url: 'ftp://127.0.0.1'}", "instagram.api_url"},
	} {
		_, err := Parse([]byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v; want a problem with %s", tc.yaml, err, tc.key)
		}
	}
	if _, err := Parse([]byte("messenger: {enabled: true, emulate: true}\ninstagram: {enabled: true, emulate: true}"), nil); err != nil {
		t.Errorf("emulated accounts need no token: %v", err)
	}
}
