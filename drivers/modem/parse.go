package modem

import (
	"strconv"
	"strings"
)

// answer strips an info line's "+CMD:" style prefix and surrounding quotes.
func answer(line string) string {
	l := strings.TrimSpace(line)
	if len(l) > 0 && (l[0] == '+' || l[0] == '^') {
		if i := strings.IndexByte(l, ':'); i >= 0 {
			l = strings.TrimSpace(l[i+1:])
		}
	}
	return strings.Trim(l, `"`)
}

// firstAnswer is the first non-empty info line, stripped.
func firstAnswer(info []string) string {
	for _, l := range info {
		if a := answer(l); a != "" {
			return a
		}
	}
	return ""
}

// fields splits a parameter list at commas outside quotes and unquotes each
// field.
func fields(s string) []string {
	var out []string
	q, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			q = !q
		case ',':
			if !q {
				out = append(out, strings.Trim(strings.TrimSpace(s[start:i]), `"`))
				start = i + 1
			}
		}
	}
	return append(out, strings.Trim(strings.TrimSpace(s[start:]), `"`))
}

// infoFields returns the fields of the first line with the given prefix
// ("+CSQ"), or nil.
func infoFields(info []string, prefix string) []string {
	for _, l := range info {
		if strings.HasPrefix(l, prefix+":") {
			return fields(strings.TrimSpace(l[len(prefix)+1:]))
		}
	}
	return nil
}

func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}

// parseRegistration reads +CREG?/+CEREG? answers: "<n>,<stat>[,...]".
func parseRegistration(f []string) (stat int, ok bool) {
	if len(f) < 2 {
		return 0, false
	}
	return atoi(f[1])
}

func registrationName(stat int) string {
	switch stat {
	case 0:
		return "not_registered"
	case 1:
		return "home"
	case 2:
		return "searching"
	case 3:
		return "denied"
	case 5:
		return "roaming"
	}
	return "unknown"
}

func registered(stat int) bool { return stat == 1 || stat == 5 }

// signal converts a +CSQ RSSI (0..31, 99 unknown) into dBm and 0-5 bars.
func signal(csq int) (dbm, bars int) {
	if csq < 0 || csq > 31 {
		return 0, 0
	}
	dbm = -113 + 2*csq
	switch {
	case dbm >= -73:
		bars = 5
	case dbm >= -83:
		bars = 4
	case dbm >= -93:
		bars = 3
	case dbm >= -103:
		bars = 2
	case dbm >= -109:
		bars = 1
	}
	return dbm, bars
}

func accessTech(act int) string {
	switch act {
	case 0, 1, 3:
		return "GSM"
	case 2, 4, 5, 6:
		return "UMTS"
	case 7, 9:
		return "LTE"
	case 11, 12, 13:
		return "NR"
	}
	return ""
}

// parseMemories reads the first list of AT+CPMS=?: ("SM","ME","SR"),(…),(…).
func parseMemories(info []string) []string {
	for _, l := range info {
		if !strings.HasPrefix(l, "+CPMS:") {
			continue
		}
		s := l[len("+CPMS:"):]
		open := strings.IndexByte(s, '(')
		end := strings.IndexByte(s, ')')
		if open < 0 || end < open {
			return fields(strings.TrimSpace(s))[:1]
		}
		var out []string
		for _, f := range fields(s[open+1 : end]) {
			if f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	return nil
}

// cleanICCID normalises an ICCID answer: Huawei returns the raw EF_ICCID
// bytes with each digit pair swapped; SIMs pad odd lengths with F.
func cleanICCID(s string, swapped bool) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if swapped {
		b := []byte(s)
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
		s = string(b)
	}
	return strings.TrimRight(s, "F")
}

// cleanRevision drops the "Revision:" label some modems put in AT+CGMR.
func cleanRevision(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"Revision:", "REVISION:"} {
		s = strings.TrimSpace(strings.TrimPrefix(s, p))
	}
	return s
}
