package clicktochat

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Viber returns viber://pa?chatURI=<uri>&context=<context>: opening it
// opens the bot's chat; Viber passes context in the conversation_started
// callback (REST Bot API, "Conversation started"), which pbxgate keeps as
// where the subscriber came from. uri is the bot's URI
// (get_account_info); context may be empty.
func Viber(uri, context string) (string, error) {
	u := strings.TrimSpace(uri)
	if !viberURIRE.MatchString(u) {
		return "", fmt.Errorf("%w: %q is not a Viber bot URI (letters, digits, _ and -)", ErrInvalid, uri)
	}
	link := "viber://pa?chatURI=" + u
	if context != "" {
		if !startPayloadRE.MatchString(context) {
			return "", fmt.Errorf("%w: context %q: use up to 64 characters A-Z, a-z, 0-9, _ and - (no spaces)", ErrInvalid, context)
		}
		link += "&context=" + url.QueryEscape(context)
	}
	return link, nil
}

// VK returns https://vk.me/<screen_name>?ref=<ref>: opening it opens the
// community's chat; VK passes ref with the user's first message (the
// message object's ref field). screenName is the community's short name
// (groups.getById); ref may be empty.
func VK(screenName, ref string) (string, error) {
	s := strings.TrimSpace(screenName)
	if !vkScreenRE.MatchString(s) {
		return "", fmt.Errorf("%w: %q is not a VK community short name (letters, digits, _ and .)", ErrInvalid, screenName)
	}
	link := "https://vk.me/" + s
	if ref != "" {
		if !startPayloadRE.MatchString(ref) {
			return "", fmt.Errorf("%w: ref %q: use up to 64 characters A-Z, a-z, 0-9, _ and - (no spaces)", ErrInvalid, ref)
		}
		link += "?ref=" + ref
	}
	return link, nil
}

var (
	viberURIRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	vkScreenRE = regexp.MustCompile(`^[A-Za-z0-9_.]{2,64}$`)
)
