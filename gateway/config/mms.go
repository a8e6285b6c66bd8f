package config

import (
	"fmt"
	"net/url"
	"strings"
)

// MMSPreset is a carrier's MMS settings as published in a public APN list.
type MMSPreset struct {
	ID        string `json:"id" yaml:"id"`
	Carrier   string `json:"carrier" yaml:"carrier"`
	Country   string `json:"country" yaml:"country"` // ISO 3166 alpha-2
	APN       string `json:"apn" yaml:"apn"`
	MMSC      string `json:"mmsc" yaml:"mmsc"`
	Proxy     string `json:"proxy,omitempty" yaml:"proxy,omitempty"`
	ProxyPort int    `json:"proxy_port,omitempty" yaml:"proxy_port,omitempty"`
	// MaxSizeKB is the size limit pbxgate fits files to. Carriers rarely
	// publish theirs; 300 KB is the OMA MMS conformance class limit that
	// every network takes (OMA-MMS-CONF "Content Class Image Rich").
	MaxSizeKB int `json:"max_size_kb" yaml:"max_size_kb"`
	// Verified: the values were checked against the source named in
	// docs/mms.md while this list was written; the others come from the
	// same list but were not re-checked and must be confirmed by the admin.
	Verified bool `json:"verified" yaml:"verified"`
}

// DefaultMMSMaxKB is the size limit when neither preset nor SIM says.
const DefaultMMSMaxKB = 300

// MMSPresets lists the carrier presets (source: the Android Open Source
// Project's public APN list, apns-full-conf.xml, and copies of it;
// docs/mms.md).
func MMSPresets() []MMSPreset {
	return []MMSPreset{
		{ID: "de-telekom", Carrier: "Telekom Deutschland", Country: "DE", APN: "internet.telekom", MMSC: "http://mms.t-mobile.de/servlets/mms", Proxy: "172.28.23.131", ProxyPort: 8008, MaxSizeKB: 300, Verified: true},
		{ID: "de-vodafone", Carrier: "Vodafone Deutschland", Country: "DE", APN: "event.vodafone.de", MMSC: "http://139.7.24.1/servlets/mms", Proxy: "139.7.29.17", ProxyPort: 80, MaxSizeKB: 300},
		{ID: "de-o2", Carrier: "O2 Telefónica Deutschland", Country: "DE", APN: "internet", MMSC: "http://10.81.0.7:8002", Proxy: "82.113.100.5", ProxyPort: 8080, MaxSizeKB: 300},
		{ID: "at-a1", Carrier: "A1 Telekom Austria", Country: "AT", APN: "free.a1.net", MMSC: "http://mmsc.a1.net", Proxy: "194.48.124.71", ProxyPort: 8001, MaxSizeKB: 300},
		{ID: "at-magenta", Carrier: "Magenta Telekom (AT)", Country: "AT", APN: "gprsmms", MMSC: "http://mmsc.t-mobile.at/servlets/mms", Proxy: "10.12.0.2", ProxyPort: 80, MaxSizeKB: 300},
		{ID: "at-drei", Carrier: "Drei (AT)", Country: "AT", APN: "drei.at", MMSC: "http://mmsc", Proxy: "213.94.78.133", ProxyPort: 8799, MaxSizeKB: 300},
		{ID: "ch-swisscom", Carrier: "Swisscom", Country: "CH", APN: "gprs.swisscom.ch", MMSC: "http://mms.natel.ch:8079", Proxy: "192.168.210.2", ProxyPort: 8080, MaxSizeKB: 300},
		{ID: "ch-sunrise", Carrier: "Sunrise", Country: "CH", APN: "internet", MMSC: "http://mmsc.sunrise.ch", Proxy: "212.35.34.75", ProxyPort: 8080, MaxSizeKB: 300},
		{ID: "ch-salt", Carrier: "Salt", Country: "CH", APN: "internet", MMSC: "http://192.168.151.3:8002", Proxy: "192.168.151.2", ProxyPort: 8080, MaxSizeKB: 300},
		{ID: "pl-play", Carrier: "Play (PL)", Country: "PL", APN: "mms", MMSC: "http://10.10.28.164/mms/wapenc", Proxy: "10.10.25.5", ProxyPort: 8080, MaxSizeKB: 300, Verified: true},
		{ID: "au-telstra", Carrier: "Telstra (AU)", Country: "AU", APN: "telstra.mms", MMSC: "http://mmsc.telstra.com:8002", Proxy: "10.1.1.180", ProxyPort: 80, MaxSizeKB: 300, Verified: true},
		{ID: "au-three", Carrier: "3 (AU)", Country: "AU", APN: "3services", MMSC: "http://mmsc.three.net.au:10021/mmsc", Proxy: "10.176.57.25", ProxyPort: 8799, MaxSizeKB: 300, Verified: true},
	}
}

// MMSPresetByID finds a preset.
func MMSPresetByID(id string) (MMSPreset, bool) {
	for _, p := range MMSPresets() {
		if p.ID == id {
			return p, true
		}
	}
	return MMSPreset{}, false
}

// MMS is one SIM's MMS settings: a preset, optionally with fields
// overridden, or all fields given.
type MMS struct {
	Preset    string `json:"preset,omitempty" yaml:"preset,omitempty"`
	APN       string `json:"apn,omitempty" yaml:"apn,omitempty"`
	MMSC      string `json:"mmsc,omitempty" yaml:"mmsc,omitempty"`
	Proxy     string `json:"proxy,omitempty" yaml:"proxy,omitempty"`
	ProxyPort int    `json:"proxy_port,omitempty" yaml:"proxy_port,omitempty"`
	MaxSizeKB int    `json:"max_size_kb,omitempty" yaml:"max_size_kb,omitempty"`
}

// Resolve fills the fields the preset has and the SIM does not override,
// and checks the result.
func (m MMS) Resolve() (MMS, error) {
	out := m
	if m.Preset != "" {
		p, ok := MMSPresetByID(m.Preset)
		if !ok {
			ids := make([]string, 0, len(MMSPresets()))
			for _, p := range MMSPresets() {
				ids = append(ids, p.ID)
			}
			return m, fmt.Errorf("mms.preset %q is unknown (known: %s)", m.Preset, strings.Join(ids, ", "))
		}
		if out.APN == "" {
			out.APN = p.APN
		}
		if out.MMSC == "" {
			out.MMSC = p.MMSC
		}
		if out.Proxy == "" {
			out.Proxy, out.ProxyPort = p.Proxy, p.ProxyPort
		}
		if out.MaxSizeKB == 0 {
			out.MaxSizeKB = p.MaxSizeKB
		}
	}
	if out.MaxSizeKB == 0 {
		out.MaxSizeKB = DefaultMMSMaxKB
	}
	u, err := url.Parse(out.MMSC)
	if out.MMSC == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return m, fmt.Errorf("mms.mmsc %q: the MMSC needs an http:// URL (a preset or the carrier's MMSC)", out.MMSC)
	}
	if out.ProxyPort < 0 || out.ProxyPort > 65535 {
		return m, fmt.Errorf("mms.proxy_port %d: a port is 1..65535", out.ProxyPort)
	}
	if out.Proxy != "" && out.ProxyPort == 0 {
		out.ProxyPort = 80
	}
	if out.MaxSizeKB < 30 || out.MaxSizeKB > 5*1024 {
		return m, fmt.Errorf("mms.max_size_kb %d: carriers take 100 KB to 1 MB; 30..5120 is accepted", out.MaxSizeKB)
	}
	return out, nil
}
