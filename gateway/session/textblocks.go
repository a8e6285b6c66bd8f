package session

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TextBlock is a canned reply an agent sends from the phone (Config.TextBlocks).
// Text may hold the placeholders {name} (the contact's name, or the number
// when no name is known), {number} and {agent} (the extension).
type TextBlock struct {
	Name string
	Text string
}

// textBlockRef recognises a request for a text block: "/t <name or
// number>" always, "#<name or number>" (the whole message) only when such
// a block exists, so a reply like "#1 priority" or "#hashtag" goes as
// written.
func (m *Manager) textBlockRef(text string) (ref string, explicit, ok bool) {
	t := strings.TrimSpace(text)
	if rest, found := strings.CutPrefix(t, "/t "); found || t == "/t" {
		return strings.TrimSpace(rest), true, true
	}
	if rest, found := strings.CutPrefix(t, "#"); found && rest != "" && !strings.ContainsAny(rest, " \t\r\n") {
		if _, ok := m.textBlock(rest); ok {
			return rest, false, true
		}
	}
	return "", false, false
}

// textBlock finds a block by name (case-insensitive) or by its number in
// the configuration (1 is the first).
func (m *Manager) textBlock(ref string) (TextBlock, bool) {
	for _, b := range m.cfg.TextBlocks {
		if strings.EqualFold(b.Name, ref) {
			return b, true
		}
	}
	if n, err := strconv.Atoi(ref); err == nil && n >= 1 && n <= len(m.cfg.TextBlocks) {
		return m.cfg.TextBlocks[n-1], true
	}
	return TextBlock{}, false
}

// expandTextBlock is the reply a text block request stands for in s.
func (m *Manager) expandTextBlock(ref string, s *Session, ext string) (string, error) {
	b, ok := m.textBlock(ref)
	if !ok {
		var names []string
		for i, b := range m.cfg.TextBlocks {
			names = append(names, fmt.Sprintf("%d %s", i+1, b.Name))
		}
		if len(names) == 0 {
			return "", fmt.Errorf("%w: no text blocks are configured (sip.sessions.text_blocks)", ErrBadCommand)
		}
		return "", fmt.Errorf("%w: no text block %q; there are: %s", ErrBadCommand, ref, strings.Join(names, ", "))
	}
	name := s.Name
	if name == "" {
		name = s.Contact
	}
	return strings.NewReplacer("{name}", name, "{number}", s.Contact, "{agent}", ext).Replace(b.Text), nil
}

// TextBlocks are the configured text blocks in order (block i is number
// i+1), for a picker.
func (m *Manager) TextBlocks() []TextBlock { return slices.Clone(m.cfg.TextBlocks) }

// ExpandTextBlock is text block ref (name or number) filled in for session
// s, with agent as {agent}: the same text the phone's "/t ref" sends.
// ErrBadCommand names the blocks there are when ref is none of them.
func (m *Manager) ExpandTextBlock(ref string, s Session, agent string) (string, error) {
	return m.expandTextBlock(ref, &s, agent)
}
