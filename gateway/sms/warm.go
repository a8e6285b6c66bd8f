package sms

import "github.com/warthog618/sms/encoding/gsm7/charset"

// warthog618/sms v0.3.0 builds its default GSM-7 encoder tables lazily
// without synchronisation, so the first concurrent gsm7.Encode calls race
// (the simulator and the tpdu package use them). Building them here, while
// the program is still single-threaded, leaves only reads afterwards.
func init() {
	charset.DefaultEncoder()
	charset.DefaultExtEncoder()
}
