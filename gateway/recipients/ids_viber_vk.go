package recipients

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Viber and VK subscribers are pasted like Telegram chat ids (seed 004):
// separated by newlines, spaces, commas or semicolons. A Viber user id
// becomes "vb<id>" (drivers/viber.Address), a VK user id "vk<id>"
// (drivers/vk.Address).

// ParseKindIDs reads a pasted list of ids of kind (telegram, viber, vk).
func ParseKindIDs(kind message.Kind, text string, limit int) (Result, error) {
	switch kind {
	case message.Viber:
		return parseIDList(text, limit, viberID)
	case message.VK:
		return parseIDList(text, limit, vkID)
	}
	return ParseIDs(text, limit)
}

// rUserID: a pasted entry is not a Viber or VK user id.
var rUserID = message.NewCode("number.user_id", 1) // input

func parseIDList(text string, limit int, parse func(string) (string, string)) (Result, error) {
	c := newCollector()
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
		for _, tok := range strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ';' || r == ' ' || r == '\t'
		}) {
			addr, why := parse(tok)
			if why != "" {
				c.invalid(Problem{Line: i + 1, Input: tok, Reason: why, ReasonCode: rUserID.R(tok)})
				continue
			}
			c.add(Recipient{Number: addr, Line: i + 1})
		}
	}
	return c.finish(limit)
}

// viberID: "vb<id>", "vb:<id>" or the bare id, 1 to 64 base64 characters.
func viberID(tok string) (string, string) {
	s := tok
	switch {
	case strings.HasPrefix(s, "vb:"):
		s = s[3:]
	case strings.HasPrefix(s, "vb") && len(s) > 2:
		s = s[2:]
	}
	ok := s != "" && len(s) <= 64
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=') {
			ok = false
		}
	}
	if !ok {
		return "", fmt.Sprintf("%q is not a Viber user id (the id the bot sees, e.g. 01234567890A=)", tok)
	}
	return "vb" + s, ""
}

// vkID: "vk<id>", "vk:<id>", "id<id>" or the bare digits of a user.
func vkID(tok string) (string, string) {
	s := strings.ToLower(tok)
	for _, p := range []string{"vk:", "vk", "id"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			s = rest
			break
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || id >= 2000000000 {
		return "", fmt.Sprintf("%q is not a VK user id (the digits of vk.com/id123456789)", tok)
	}
	return "vk" + strconv.FormatInt(id, 10), ""
}
