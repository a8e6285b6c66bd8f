// netscope:file carrier presets and MMS settings here are only resolved and validated, never dialled.
package config

import (
	"strings"
	"testing"
)

func TestMMSResolve(t *testing.T) {
	got, err := MMS{Preset: "de-telekom", MaxSizeKB: 600}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	// AOSP apns-full-conf.xml, mcc 262 mnc 01: mmsc, mmsproxy, mmsport.
	if got.MMSC != "http://mms.t-mobile.de/servlets/mms" || got.Proxy != "172.28.23.131" || got.ProxyPort != 8008 || got.MaxSizeKB != 600 {
		t.Fatalf("%+v", got)
	}
	for _, c := range []struct {
		in   MMS
		want string
	}{
		{MMS{Preset: "xx"}, "unknown"},
		{MMS{MMSC: "mms.example"}, "http://"},
		{MMS{MMSC: "http://mmsc", MaxSizeKB: 10}, "max_size_kb"},
		{MMS{MMSC: "http://mmsc", Proxy: "1.2.3.4", ProxyPort: 70000}, "proxy_port"},
	} {
		if _, err := c.in.Resolve(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.in, err, c.want)
		}
	}
	ids := map[string]bool{}
	for _, p := range MMSPresets() {
		if ids[p.ID] {
			t.Errorf("duplicate preset %s", p.ID)
		}
		ids[p.ID] = true
		if _, err := (MMS{Preset: p.ID}).Resolve(); err != nil {
			t.Errorf("preset %s: %v", p.ID, err)
		}
	}
}
