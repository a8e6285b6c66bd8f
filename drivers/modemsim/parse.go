package modemsim

import (
	"errors"
	"strconv"
	"strings"
)

// cmd is one command of an AT command line.
type cmd struct {
	name string // upper case: "E", "&F", "+CMGS", "^ICCID"
	op   string // "" (action), "?" (read), "=?" (test), "=" (set); basic commands: "" with args
	args string // text after "=" (set) or a basic command's digits
}

var errSyntax = errors.New("syntax error")

// splitCommands splits what follows "AT" into commands (V.250 5.4):
// basic commands follow each other directly ("E0V1"), extended commands
// ("+CMGF=0") run to the next ';' outside quotes.
func splitCommands(s string) ([]cmd, error) {
	var out []cmd
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == ';':
			i++
		case c == '+' || c == '^' || c == '$':
			j := i + 1
			for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
				j++
			}
			if j == i+1 {
				return nil, errSyntax
			}
			x := cmd{name: strings.ToUpper(s[i:j])}
			rest := s[j:]
			end := indexUnquoted(rest, ';')
			body := rest[:end]
			switch {
			case strings.HasPrefix(body, "=?"):
				x.op = "=?"
			case strings.HasPrefix(body, "?"):
				x.op = "?"
			case strings.HasPrefix(body, "="):
				x.op, x.args = "=", strings.TrimSpace(body[1:])
			case strings.TrimSpace(body) == "":
			default:
				return nil, errSyntax
			}
			out = append(out, x)
			i = j + end
		case c == '&':
			if i+1 >= len(s) {
				return nil, errSyntax
			}
			j := i + 2
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			out = append(out, cmd{name: "&" + strings.ToUpper(s[i+1:i+2]), args: s[i+2 : j]})
			i = j
		case isAlpha(c):
			name := strings.ToUpper(string(c))
			j := i + 1
			x := cmd{name: name}
			if name == "S" { // S-register: S7=60, S3?
				for j < len(s) && isDigit(s[j]) {
					j++
				}
				x.args = s[i+1 : j]
				if j < len(s) && s[j] == '?' {
					x.op = "?"
					j++
				} else if j < len(s) && s[j] == '=' {
					k := j + 1
					for k < len(s) && isDigit(s[k]) {
						k++
					}
					x.op, x.args = "=", x.args+"="+s[j+1:k]
					j = k
				}
			} else {
				for j < len(s) && isDigit(s[j]) {
					j++
				}
				x.args = s[i+1 : j]
			}
			out = append(out, x)
			i = j
		default:
			return nil, errSyntax
		}
	}
	return out, nil
}

func indexUnquoted(s string, sep byte) int {
	q := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			q = !q
		case sep:
			if !q {
				return i
			}
		}
	}
	return len(s)
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

// params splits set arguments at commas outside quotes and unquotes them.
func params(args string) []string {
	if strings.TrimSpace(args) == "" {
		return nil
	}
	var out []string
	for {
		k := indexUnquoted(args, ',')
		out = append(out, unquote(strings.TrimSpace(args[:k])))
		if k == len(args) {
			return out
		}
		args = args[k+1:]
	}
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// intParam parses p[i]; missing yields def, malformed ok=false.
func intParam(p []string, i, def int) (int, bool) {
	if i >= len(p) || p[i] == "" {
		return def, true
	}
	v, err := strconv.Atoi(p[i])
	return v, err == nil
}
