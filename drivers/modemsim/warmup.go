package modemsim

import "github.com/warthog618/sms/encoding/gsm7/charset"

// warthog618/sms v0.3.0 builds its GSM 7-bit tables lazily on first use,
// unsynchronised: two goroutines encoding or decoding for the first time at
// once race (go test -race reports it). Building them all while the program
// is still single-threaded removes the race for every user in the process.
func init() {
	charset.DefaultDecoder()
	charset.DefaultEncoder()
	charset.DefaultExtDecoder()
	charset.DefaultExtEncoder()
	for nli := charset.Start; nli < charset.End; nli++ {
		charset.NewDecoder(nli)
		charset.NewExtDecoder(nli)
		charset.NewEncoder(nli)
		charset.NewExtEncoder(nli)
	}
}
