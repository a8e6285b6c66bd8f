package pbx

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// splitBody cuts text into parts of at most max bytes each, prefix "(i/n) "
// included, on UTF-8 boundaries (preferring a space near the end of a
// part), so a PBX that empties long bodies (Asterisk: over 1,023 bytes) or
// a UDP path (RFC 3428: 1,300 bytes) gets the whole text in order.
// max <= 0 or a short text gives the text unchanged.
func splitBody(text string, max int) []string {
	if max <= 0 || len(text) <= max {
		return []string{text}
	}
	// The prefix length depends on the number of parts: grow n until the
	// text fits.
	for n := 2; ; n++ {
		prefixLen := len(fmt.Sprintf("(%d/%d) ", n, n))
		room := max - prefixLen
		if room < utf8.UTFMax {
			return []string{text} // nonsense limit: do not loop forever
		}
		chunks := cut(text, room)
		if len(chunks) <= n {
			out := make([]string, len(chunks))
			for i, c := range chunks {
				out[i] = fmt.Sprintf("(%d/%d) %s", i+1, len(chunks), c)
			}
			return out
		}
	}
}

// cut splits text into chunks of at most room bytes on rune boundaries,
// ending a chunk after a space when one is in its last eighth.
func cut(text string, room int) []string {
	var out []string
	for len(text) > room {
		end := room
		for end > 0 && !utf8.RuneStart(text[end]) {
			end--
		}
		if sp := strings.LastIndexByte(text[:end], ' '); sp >= end-room/8 && sp > 0 {
			end = sp + 1
		}
		out = append(out, text[:end])
		text = text[end:]
	}
	if text != "" {
		out = append(out, text)
	}
	return out
}
