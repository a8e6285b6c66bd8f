package recipients

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// rChatID: a pasted entry is not a messenger chat id.
var rChatID = message.NewCode("number.chat_id", 1) // input

// ParseIDs reads a pasted list of messenger chat ids (a Telegram bot's
// subscribers: the number the bot sees, optionally written "tg123…")
// separated by newlines, spaces, commas or semicolons (seed 004: visitors
// who wrote before, addressed by their id). Each id becomes "tg<id>", the
// form pbxgate stores Telegram contacts in; anything else is an invalid
// entry with its line.
func ParseIDs(text string, limit int) (Result, error) {
	c := newCollector()
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
		for _, tok := range strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ';' || r == ' ' || r == '\t'
		}) {
			s := strings.ToLower(tok)
			// "tg" (Telegram), "fb"/"ig" (Messenger, Instagram: the
			// channel's NormalizeAddress gives the id its own prefix).
			for _, p := range []string{"tg", "fb", "ig"} {
				if rest, ok := strings.CutPrefix(s, p); ok {
					s = strings.TrimPrefix(rest, ":")
					break
				}
			}
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				c.invalid(Problem{Line: i + 1, Input: tok, Reason: fmt.Sprintf("%q is not a chat id (the digits the bot sees, e.g. 123456789)", tok),
					ReasonCode: rChatID.R(tok)})
				continue
			}
			c.add(Recipient{Number: "tg" + strconv.FormatInt(id, 10), Line: i + 1})
		}
	}
	return c.finish(limit)
}
