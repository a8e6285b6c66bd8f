package config

import (
	"strings"
	"testing"
	"time"
)

func TestViberAndVKSections(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte("viber:\n  enabled: true\nvk:\n  enabled: true\n  group_id: 229000001\n"),
		[]string{EnvViberToken + "=4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f", EnvVKToken + "=vk1.a.token", EnvVKSecret + "=s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Viber; v.Token.Reveal() != "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f" || v.Name != "viber" || v.MessagesPerSecond != 20 {
		t.Fatalf("viber defaults and env token: %+v", v)
	}
	if v := cfg.VK; v.Token.Reveal() != "vk1.a.token" || v.Secret.Reveal() != "s3cr3t" || v.Name != "vk" || v.APIVersion != "5.199" ||
		v.Receive != "longpoll" || v.PollWait != 25*time.Second {
		t.Fatalf("vk defaults and env: %+v", v)
	}
	if strings.Contains(cfg.VK.Token.String(), "vk1") {
		t.Fatal("the token shows in String()")
	}
	for _, tc := range []struct{ yaml, key string }{
		{"viber: {enabled: true}", "viber.token"},
		{"viber: {sender_name: 'a name that is much too long for viber'}", "viber.sender_name"},
		{"viber: {api_url: 'ftp://127.0.0.1'}", "viber.api_url"},
		{"vk: {enabled: true, token: x}", "vk.group_id"},
		{"vk: {enabled: true, group_id: 1}", "vk.token"},
		{"vk: {receive: webhook}", "vk.receive"},
		{"vk: {receive: callback}", "vk.confirmation"},
		{"vk: {poll_wait: 2m}", "vk.poll_wait"},
		{"vk: {messages_per_second: 21}", "vk.messages_per_second"},
		{"vk: {api_version: '6'}", "vk.api_version"},
	} {
		_, err := Parse([]byte(tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v; want a problem with %s", tc.yaml, err, tc.key)
		}
	}
	if _, err := Parse([]byte("viber: {enabled: true, emulate: true}\nvk: {enabled: true, emulate: true}"), nil); err != nil {
		t.Errorf("emulated channels need no token: %v", err)
	}
}
