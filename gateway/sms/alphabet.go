package sms

// gsmBasic is the GSM 03.38 / 3GPP TS 23.038 default alphabet, indexed by
// septet. 0x1B is the escape to the extension table and never a character.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

const gsmEscape = 0x1b

// septet maps r to its GSM-7 code. ext reports that the code belongs to the
// extension table (sent as ESC + code, costing two septets). ok is false for
// runes GSM-7 cannot carry, which force the whole message into UCS-2.
func septet(r rune) (code byte, ext, ok bool) {
	switch {
	case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '%' && r <= '?', r >= ' ' && r <= '#':
		// ASCII letters, digits and most punctuation share their ASCII code.
		return byte(r), false, true
	}
	switch r {
	case '@':
		return 0x00, false, true
	case '£':
		return 0x01, false, true
	case '$':
		return 0x02, false, true
	case '¥':
		return 0x03, false, true
	case 'è':
		return 0x04, false, true
	case 'é':
		return 0x05, false, true
	case 'ù':
		return 0x06, false, true
	case 'ì':
		return 0x07, false, true
	case 'ò':
		return 0x08, false, true
	case 'Ç':
		return 0x09, false, true
	case '\n':
		return 0x0a, false, true
	case 'Ø':
		return 0x0b, false, true
	case 'ø':
		return 0x0c, false, true
	case '\r':
		return 0x0d, false, true
	case 'Å':
		return 0x0e, false, true
	case 'å':
		return 0x0f, false, true
	case 'Δ':
		return 0x10, false, true
	case '_':
		return 0x11, false, true
	case 'Φ':
		return 0x12, false, true
	case 'Γ':
		return 0x13, false, true
	case 'Λ':
		return 0x14, false, true
	case 'Ω':
		return 0x15, false, true
	case 'Π':
		return 0x16, false, true
	case 'Ψ':
		return 0x17, false, true
	case 'Σ':
		return 0x18, false, true
	case 'Θ':
		return 0x19, false, true
	case 'Ξ':
		return 0x1a, false, true
	case 'Æ':
		return 0x1c, false, true
	case 'æ':
		return 0x1d, false, true
	case 'ß':
		return 0x1e, false, true
	case 'É':
		return 0x1f, false, true
	case '¤':
		return 0x24, false, true
	case '¡':
		return 0x40, false, true
	case 'Ä':
		return 0x5b, false, true
	case 'Ö':
		return 0x5c, false, true
	case 'Ñ':
		return 0x5d, false, true
	case 'Ü':
		return 0x5e, false, true
	case '§':
		return 0x5f, false, true
	case '¿':
		return 0x60, false, true
	case 'ä':
		return 0x7b, false, true
	case 'ö':
		return 0x7c, false, true
	case 'ñ':
		return 0x7d, false, true
	case 'ü':
		return 0x7e, false, true
	case 'à':
		return 0x7f, false, true
	// Extension table.
	case '\f':
		return 0x0a, true, true
	case '^':
		return 0x14, true, true
	case '{':
		return 0x28, true, true
	case '}':
		return 0x29, true, true
	case '\\':
		return 0x2f, true, true
	case '[':
		return 0x3c, true, true
	case '~':
		return 0x3d, true, true
	case ']':
		return 0x3e, true, true
	case '|':
		return 0x40, true, true
	case '€':
		return 0x65, true, true
	}
	return 0, false, false
}

// extRune maps an extension-table code back to its rune.
func extRune(code byte) (rune, bool) {
	switch code {
	case 0x0a:
		return '\f', true
	case 0x14:
		return '^', true
	case 0x28:
		return '{', true
	case 0x29:
		return '}', true
	case 0x2f:
		return '\\', true
	case 0x3c:
		return '[', true
	case 0x3d:
		return '~', true
	case 0x3e:
		return ']', true
	case 0x40:
		return '|', true
	case 0x65:
		return '€', true
	}
	return 0, false
}

// decodeSeptets turns unpacked GSM-7 septets into text. An escape followed by
// an unknown code decodes as the basic character, as TS 23.038 asks; a
// trailing lone escape is dropped.
func decodeSeptets(s []byte) string {
	var basic [128]rune
	i := 0
	for _, r := range gsmBasic {
		basic[i] = r
		i++
	}
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i] & 0x7f
		if c == gsmEscape {
			if i+1 >= len(s) {
				break
			}
			i++
			c = s[i] & 0x7f
			if r, ok := extRune(c); ok {
				out = append(out, r)
				continue
			}
		}
		if c == gsmEscape {
			out = append(out, ' ')
			continue
		}
		out = append(out, basic[c])
	}
	return string(out)
}

// pack7 appends septets packed as 7-bit GSM user data to dst, starting after
// fill bits of padding (used to align after a user data header).
func pack7(dst []byte, septets []byte, fill int) []byte {
	n := (fill + 7*len(septets) + 7) / 8
	start := len(dst)
	for range n {
		dst = append(dst, 0)
	}
	out := dst[start:]
	bit := fill
	for _, s := range septets {
		s &= 0x7f
		idx, off := bit/8, bit%8
		out[idx] |= s << off
		if off > 1 {
			out[idx+1] |= s >> (8 - off)
		}
		bit += 7
	}
	return dst
}

// GSM7Septets converts text to unpacked GSM 7-bit septets of the default
// alphabet, extension-table characters as ESC + code (for USSD strings).
// ok is false when text has a character GSM-7 cannot carry.
func GSM7Septets(text string) (septets []byte, ok bool) {
	out := make([]byte, 0, len(text))
	for _, r := range text {
		code, ext, ok := septet(r)
		if !ok {
			return nil, false
		}
		if ext {
			out = append(out, gsmEscape)
		}
		out = append(out, code)
	}
	return out, true
}

// GSM7Text decodes unpacked GSM 7-bit septets of the default alphabet.
func GSM7Text(septets []byte) string { return decodeSeptets(septets) }
