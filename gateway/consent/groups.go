package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Group is a subscriber group (a topic contacts join and leave).
type Group struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
}

// Sources of a membership.
const (
	SourceKeyword     = "keyword"
	SourceClickToChat = "click-to-chat"
	SourceManual      = "manual"
)

// HasGroup reports whether group exists.
func (c *Consent) HasGroup(_ context.Context, group string) (bool, error) {
	found := false
	err := c.st.View(func(txn *store.Txn) error {
		_, err := txn.Get([]byte(prefixGroup + group))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

// Member is one contact in a group.
type Member struct {
	Number string    `json:"number"` // as given when joining
	Source string    `json:"source"` // keyword, click-to-chat, manual
	Joined time.Time `json:"joined"`
	// Excluded is why the member is left out of sends (opted out,
	// blacklisted); empty when they get messages.
	Excluded string `json:"excluded,omitempty"`
	// ExcludedCode is Excluded for translation (zero: show Excluded).
	ExcludedCode message.Reason `json:"excluded_code,omitzero"`
}

// GroupSummary is a group with how many members it has and how many of
// them are left out of sends, for lists.
type GroupSummary struct {
	Group
	Members  int `json:"members"`
	Excluded int `json:"excluded"`
}

// GroupSummaries returns every group by name with its member counts. The
// excluded count is as of now (opt-outs and blocks change it without the
// group changing).
func (c *Consent) GroupSummaries(ctx context.Context) ([]GroupSummary, error) {
	var out []GroupSummary
	err := c.st.View(func(txn *store.Txn) error {
		if err := store.Each(txn, prefixGroup, func(_ string, v []byte) error {
			var g GroupSummary
			if err := unmarshal(v, &g.Group); err != nil {
				return err
			}
			out = append(out, g)
			return nil
		}); err != nil {
			return err
		}
		for i := range out {
			if err := store.Each(txn, prefixMember+out[i].Name+"/", func(_ string, v []byte) error {
				var m Member
				if err := unmarshal(v, &m); err != nil {
					return err
				}
				out[i].Members++
				if _, blocked := c.Blocked(ctx, m.Number); blocked {
					out[i].Excluded++
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("consent: groups: %w", err)
	}
	return out, nil
}

// IsMember reports whether number is in group (which must exist).
func (c *Consent) IsMember(_ context.Context, group, number string) (bool, error) {
	found := false
	err := c.st.View(func(txn *store.Txn) error {
		if _, err := txn.Get([]byte(prefixGroup + group)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNoGroup, group)
		} else if err != nil {
			return err
		}
		key := Canonical(number)
		if key == "" {
			return nil
		}
		_, err := txn.Get([]byte(prefixMember + group + "/" + key))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("consent: member of %q: %w", group, err)
	}
	return found, nil
}

func validGroupName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: name is empty", ErrInvalidGroup)
	case utf8.RuneCountInString(name) > 64:
		return fmt.Errorf("%w: name %q is longer than 64 characters", ErrInvalidGroup, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: name %q contains '/'", ErrInvalidGroup, name)
	}
	return nil
}

// CreateGroup adds a group; creating an existing one updates its description.
func (c *Consent) CreateGroup(_ context.Context, name, description string) (Group, error) {
	if err := validGroupName(name); err != nil {
		return Group{}, err
	}
	var g Group
	err := c.st.Update(func(txn *store.Txn) error {
		err := store.GetJSON(txn, prefixGroup+name, &g)
		if errors.Is(err, store.ErrNotFound) {
			g = Group{Name: name, Created: c.now()}
		} else if err != nil {
			return err
		}
		g.Description = description
		return store.SetJSON(txn, prefixGroup+name, g)
	})
	if err != nil {
		return Group{}, fmt.Errorf("consent: group %q: %w", name, err)
	}
	return g, nil
}

// DeleteGroup removes a group and its memberships.
func (c *Consent) DeleteGroup(_ context.Context, name string) error {
	return c.st.Update(func(txn *store.Txn) error {
		if _, err := txn.Get([]byte(prefixGroup + name)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNoGroup, name)
		}
		var keys []string
		if err := store.Each(txn, prefixMember+name+"/", func(k string, _ []byte) error {
			keys = append(keys, k)
			return nil
		}); err != nil {
			return err
		}
		for _, k := range append(keys, prefixGroup+name) {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Groups returns all groups by name.
func (c *Consent) Groups(_ context.Context) ([]Group, error) {
	var out []Group
	err := c.st.View(func(txn *store.Txn) error {
		return store.Each(txn, prefixGroup, func(_ string, v []byte) error {
			var g Group
			if err := unmarshal(v, &g); err != nil {
				return err
			}
			out = append(out, g)
			return nil
		})
	})
	return out, err
}

// Join adds number to group (which must exist). Joining again keeps the
// first join time. It also ends an opt-out: joining a group by keyword or
// click-to-chat is the contact asking for messages.
func (c *Consent) Join(ctx context.Context, group, number, source string) error {
	key := Canonical(number)
	if key == "" {
		return fmt.Errorf("consent: join %q: %w: %q", group, ErrInvalidNumber, number)
	}
	err := c.st.Update(func(txn *store.Txn) error {
		if _, err := txn.Get([]byte(prefixGroup + group)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNoGroup, group)
		} else if err != nil {
			return err
		}
		k := prefixMember + group + "/" + key
		if _, err := txn.Get([]byte(k)); err == nil {
			return nil
		}
		return store.SetJSON(txn, k, Member{Number: number, Source: source, Joined: c.now()})
	})
	if err != nil {
		return fmt.Errorf("consent: join %q: %w", group, err)
	}
	if source != SourceManual {
		_, err = c.OptIn(ctx, number)
	}
	return err
}

// Leave removes number from group; leaving a group one is not in is not an
// error (the contact's intent is met).
func (c *Consent) Leave(_ context.Context, group, number string) error {
	err := c.st.Update(func(txn *store.Txn) error {
		if _, err := txn.Get([]byte(prefixGroup + group)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNoGroup, group)
		}
		err := txn.Delete([]byte(prefixMember + group + "/" + Canonical(number)))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("consent: leave %q: %w", group, err)
	}
	return nil
}

// Members lists everyone in group with Excluded set for those who must not
// get messages (opted out or send-blocked), for the portal.
func (c *Consent) Members(ctx context.Context, group string) ([]Member, error) {
	var out []Member
	err := c.st.View(func(txn *store.Txn) error {
		if _, err := txn.Get([]byte(prefixGroup + group)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNoGroup, group)
		}
		return store.Each(txn, prefixMember+group+"/", func(_ string, v []byte) error {
			var m Member
			if err := unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("consent: members of %q: %w", group, err)
	}
	for i := range out {
		if reason, code, blocked := c.BlockedReason(ctx, out[i].Number); blocked {
			out[i].Excluded, out[i].ExcludedCode = reason, code
		}
	}
	return out, nil
}

// Recipients returns the members of group that may be messaged, ready for
// campaign.Engine.Create (a campaign or newsletter to a group), and the
// excluded ones with their reasons.
func (c *Consent) Recipients(ctx context.Context, group string) (send []recipients.Recipient, excluded []Member, err error) {
	ms, err := c.Members(ctx, group)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range ms {
		if m.Excluded != "" {
			excluded = append(excluded, m)
			continue
		}
		send = append(send, recipients.Recipient{Number: e164(m.Number)})
	}
	return send, excluded, nil
}

// e164 puts the + back on all-digit numbers (WhatsApp ids) so the campaign
// engine's normaliser takes them as international.
func e164(n string) string {
	n = strings.TrimSpace(n)
	if n != "" && n[0] != '+' && n[0] != '0' && Canonical(n) == n {
		return "+" + n
	}
	return n
}
