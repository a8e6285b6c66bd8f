package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// Numbers are several phone numbers of one WhatsApp Business Account
// served by one pbxgate, one Channel each (own throughput, tier, service
// windows, stopped state; Options.StoreScope keeps their store keys apart).
//
// Meta sends the webhooks of every number of the app to one callback URL:
// Numbers is that callback. It checks the signature once and hands the
// notification to the channel of each phone_number_id it names; a number
// that is not configured is logged and ignored (it changes nothing).
// Notifications without a phone number (account, template and quality
// updates) go to the first channel.
//
// Once grouped, every channel's Webhook returns the group, Send with a
// message.Outbound naming another number's channel sends from that one,
// and a free-form message goes out from the number the contact last wrote
// to — the one whose customer-service window allows it.
type Numbers struct {
	list   []*Channel
	byID   map[string]*Channel
	byName map[string]*Channel
	max    int64
	log    *slog.Logger
}

// NewNumbers groups channels; the first is the account's primary number.
// They must share the app secret and verify token (one Meta app) and have
// distinct phone number ids, names and store scopes.
func NewNumbers(chans ...*Channel) (*Numbers, error) {
	if len(chans) == 0 {
		return nil, errors.New("whatsapp: no numbers")
	}
	g := &Numbers{list: chans, byID: map[string]*Channel{}, byName: map[string]*Channel{}, log: chans[0].log}
	scopes := map[string]string{}
	for _, c := range chans {
		switch {
		case g.byID[c.o.PhoneNumberID] != nil:
			return nil, fmt.Errorf("whatsapp: phone number id %s is configured twice", c.o.PhoneNumberID)
		case g.byName[c.o.Name] != nil:
			return nil, fmt.Errorf("whatsapp: channel name %q is used by two numbers", c.o.Name)
		case c.o.AppSecret != chans[0].o.AppSecret || c.o.VerifyToken != chans[0].o.VerifyToken:
			return nil, fmt.Errorf("whatsapp: number %s has another app secret or verify token than %s; numbers served together belong to one Meta app",
				c.o.PhoneNumberID, chans[0].o.PhoneNumberID)
		}
		if other, ok := scopes[c.o.StoreScope]; ok {
			return nil, fmt.Errorf("whatsapp: numbers %s and %s share the store scope %q", other, c.o.PhoneNumberID, c.o.StoreScope)
		}
		scopes[c.o.StoreScope] = c.o.PhoneNumberID
		g.byID[c.o.PhoneNumberID], g.byName[c.o.Name] = c, c
		g.max = max(g.max, c.o.MaxWebhookBody)
	}
	for _, c := range chans {
		if c.group.Load() != nil {
			return nil, fmt.Errorf("whatsapp: number %s is already in a group", c.o.PhoneNumberID)
		}
	}
	for _, c := range chans {
		c.group.Store(g)
	}
	return g, nil
}

// Channels are the grouped numbers, the primary first.
func (g *Numbers) Channels() []*Channel { return g.list }

// ByName is the number whose channel is called name, or nil.
func (g *Numbers) ByName(name string) *Channel { return g.byName[name] }

// ByPhoneNumberID is the number with Meta's phone number id, or nil.
func (g *Numbers) ByPhoneNumberID(id string) *Channel { return g.byID[id] }

// pick is the number a free-form message to contact leaves from: the one
// the contact wrote to last (so its 24 h window is the open one), from
// among the group; from is kept when no other number has a later message.
func (g *Numbers) pick(from *Channel, to string) *Channel {
	contact, err := from.contacts.resolve(normalizeTo(to))
	if err != nil {
		return from
	}
	best := from
	bestAt, _ := from.contacts.lastInbound(contact)
	for _, c := range g.list {
		if c == from {
			continue
		}
		if at, err := c.contacts.lastInbound(contact); err == nil && at.After(bestAt) {
			best, bestAt = c, at
		}
	}
	if best != from {
		from.log.Debug("whatsapp: free-form message leaves from the number the contact wrote to",
			"to_channel", best.o.Name, "phone_number_id", best.o.PhoneNumberID)
	}
	return best
}

// ServeHTTP is the account's webhook: GET is Meta's verification, POST a
// notification for one or more of the numbers.
func (g *Numbers) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	primary := g.list[0]
	if r.Method != http.MethodPost {
		primary.hook.ServeHTTP(rw, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, g.max))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			primary.metrics.webhooks.WithLabelValues("too_large").Inc()
			http.Error(rw, "notification too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(rw, "cannot read body", http.StatusBadRequest)
		return
	}
	if !validSignature(primary.o.AppSecret, r.Header.Get(SignatureHeader), body) {
		primary.metrics.webhooks.WithLabelValues("bad_signature").Inc()
		primary.log.Warn("whatsapp webhook: missing or wrong signature; check whatsapp.app_secret", "remote", r.RemoteAddr)
		http.Error(rw, "invalid signature", http.StatusUnauthorized)
		return
	}
	for _, c := range g.targets(body) {
		if status, msg := c.hook.accept(r.Context(), body); status != http.StatusOK {
			// Meta sends it again; every number de-duplicates.
			http.Error(rw, msg, status)
			return
		}
	}
	rw.WriteHeader(http.StatusOK)
}

// targets are the numbers a notification concerns, in configuration
// order; the primary for changes without a phone number (and for a body
// that cannot be read, which it keeps for inspection).
func (g *Numbers) targets(body []byte) []*Channel {
	var n struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Metadata struct {
						PhoneNumberID string `json:"phone_number_id"`
					} `json:"metadata"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if json.Unmarshal(body, &n) != nil {
		return g.list[:1]
	}
	want := map[*Channel]bool{}
	unknown := map[string]int{}
	for _, e := range n.Entry {
		for _, c := range e.Changes {
			id := c.Value.Metadata.PhoneNumberID
			switch ch := g.byID[id]; {
			case id == "":
				want[g.list[0]] = true
			case ch != nil:
				want[ch] = true
			default:
				unknown[id]++
			}
		}
	}
	for id, k := range unknown {
		g.list[0].metrics.webhooks.WithLabelValues("other_number").Inc()
		g.log.Warn("whatsapp webhook for a phone number that is not configured: ignored; add it under whatsapp.numbers or unsubscribe it from this app",
			"phone_number_id", id, "changes", k)
	}
	var out []*Channel
	for _, c := range g.list {
		if want[c] {
			out = append(out, c)
		}
	}
	return out
}
