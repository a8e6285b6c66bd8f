// Package shortlink shortens the links of campaign messages and counts
// their clicks (seed 002: "URL-Shortener", "Klick-Tracking"): every
// recipient gets their own short link on the gateway's public URL, so a
// click is counted for the campaign and the recipient.
//
// A link key is the first 72 bits of HMAC-SHA256(secret, campaign, seq,
// target) in base64url (12 characters): unguessable without the secret
// (kept in the store, made at first use), and the same for the same
// recipient and target, so the text handed to a channel again after a
// restart is the same text. Clicks are counted in memory and written in
// one transaction a second (Run), so a redirect never waits for the disk;
// a crash loses at most the last second's clicks.
//
// Keys (through gateway/store):
//
//	shortlink/secret                       the HMAC key
//	shortlink/k/<key>                      Link
//	shortlink/r/<campaign>/<seq %07d>/<key> index of a campaign's links
//	shortlink/n/<key>                      clickCount
//	shortlink/h/<campaign>/<unix hour>     clicks of that hour (timeline)
package shortlink

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// KeyLen is the length of a link key.
const KeyLen = 12

// PathPrefix is where the portal serves the redirects.
const PathPrefix = "/s/"

// ErrDisabled: short links need http.public_url.
var ErrDisabled = errors.New("short links need the gateway's public URL (http.public_url) or their own domain (http.short_link_url); neither is configured")

// Link is one stored short link.
type Link struct {
	Key      string    `json:"key"`
	Campaign string    `json:"campaign"`
	Seq      int       `json:"seq"`
	Target   string    `json:"target"`
	Created  time.Time `json:"created"`
}

type clickCount struct {
	N     int       `json:"n"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// Config wires Links.
type Config struct {
	Store *store.Store
	// PublicURL is http.public_url; empty disables shortening (Shorten
	// returns ErrDisabled) but still serves links made before.
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time // nil: time.Now
	// FlushInterval is how often Run writes counted clicks (1 s).
	FlushInterval time.Duration
}

// Links makes short links and counts their clicks.
type Links struct {
	st     *store.Store
	base   string // public URL + PathPrefix, "" when disabled
	secret []byte
	log    *slog.Logger
	now    func() time.Time
	every  time.Duration

	mu      sync.Mutex
	pending map[string][]time.Time // key -> click times not yet stored
	cache   map[string]Link        // resolved links (bounded)
}

const (
	secretKey = "shortlink/secret"
	linkPfx   = "shortlink/k/"
	indexPfx  = "shortlink/r/"
	countPfx  = "shortlink/n/"
	hourPfx   = "shortlink/h/"
	maxCache  = 4096
	maxQueued = 100_000 // clicks held between flushes; more are not counted
)

// New loads (or creates) the link secret.
func New(cfg Config) (*Links, error) {
	if cfg.Store == nil {
		return nil, errors.New("shortlink: no store")
	}
	l := &Links{st: cfg.Store, log: cfg.Logger, now: cfg.Now, every: cfg.FlushInterval,
		pending: map[string][]time.Time{}, cache: map[string]Link{}}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.every <= 0 {
		l.every = time.Second
	}
	if u := strings.TrimRight(strings.TrimSpace(cfg.PublicURL), "/"); u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return nil, fmt.Errorf("shortlink: http.public_url %q is not an http(s) URL", cfg.PublicURL)
		}
		l.base = u + PathPrefix
	}
	err := l.st.Update(func(txn *store.Txn) error {
		item, err := txn.Get([]byte(secretKey))
		if err == nil {
			l.secret, err = item.ValueCopy(nil)
			return err
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		l.secret = make([]byte, 32)
		if _, err := rand.Read(l.secret); err != nil {
			return err
		}
		return txn.Set([]byte(secretKey), l.secret)
	})
	if err != nil {
		return nil, fmt.Errorf("shortlink: secret: %w", err)
	}
	return l, nil
}

// Enabled reports whether Shorten works (a public URL is configured).
func (l *Links) Enabled() bool { return l.base != "" }

// Base is the prefix of every short link ("https://gw.example.com/s/").
func (l *Links) Base() string { return l.base }

// LinkLen is the length of a short link as sent (0 when disabled).
func (l *Links) LinkLen() int {
	if l.base == "" {
		return 0
	}
	return len(l.base) + KeyLen
}

// Sample is a short link of the real length, for length previews.
func (l *Links) Sample() string {
	if l.base == "" {
		return ""
	}
	return l.base + strings.Repeat("x", KeyLen)
}

// urlRE finds links in a message: http(s) URLs up to white space, without
// the sentence punctuation that usually follows them.
var urlRE = regexp.MustCompile(`https?://[^\s<>"]*[^\s<>".,;:!?)\]}'*]`)

// FindURLs returns the links in text.
func FindURLs(text string) []string { return urlRE.FindAllString(text, -1) }

// ReplaceURLs replaces every link in text by repl(link).
func ReplaceURLs(text string, repl func(string) string) string {
	return urlRE.ReplaceAllStringFunc(text, repl)
}

// Preview is text as it is sent with short links of the given sample (for
// length checks); text unchanged when sample is "".
func Preview(text, sample string) string {
	if sample == "" {
		return text
	}
	return ReplaceURLs(text, func(string) string { return sample })
}

func (l *Links) key(campaign string, seq int, target string) string {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte(campaign))
	m.Write([]byte{0})
	m.Write([]byte(strconv.Itoa(seq)))
	m.Write([]byte{0})
	m.Write([]byte(target))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:9])
}

// Shorten replaces the links in text by recipient seq's short links of
// campaign and stores them (idempotent: the same text gives the same
// links). Links already on the gateway's short-link base stay.
func (l *Links) Shorten(_ context.Context, campaign string, seq int, text string) (string, error) {
	if l.base == "" {
		return text, ErrDisabled
	}
	var links []Link
	out := ReplaceURLs(text, func(u string) string {
		if strings.HasPrefix(u, l.base) {
			return u
		}
		k := Link{Key: l.key(campaign, seq, u), Campaign: campaign, Seq: seq, Target: u}
		links = append(links, k)
		return l.base + k.Key
	})
	if len(links) == 0 {
		return text, nil
	}
	now := l.now().UTC()
	err := l.st.Update(func(txn *store.Txn) error {
		for _, k := range links {
			if ok, err := store.Exists(txn, linkPfx+k.Key); err != nil || ok {
				if err != nil {
					return err
				}
				continue
			}
			k.Created = now
			if err := store.SetJSON(txn, linkPfx+k.Key, k); err != nil {
				return err
			}
			if err := txn.Set([]byte(indexKey(campaign, seq, k.Key)), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return text, fmt.Errorf("store short links: %w", err)
	}
	return out, nil
}

func indexKey(campaign string, seq int, key string) string {
	return fmt.Sprintf("%s%s/%07d/%s", indexPfx, url.PathEscape(campaign), seq, key)
}

// ValidKey reports whether k has the shape of a link key (so lookups of
// random paths never reach the store).
func ValidKey(k string) bool {
	if len(k) != KeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Click resolves key and counts a click; ok false for unknown keys.
func (l *Links) Click(ctx context.Context, key string) (target string, ok bool, err error) {
	if !ValidKey(key) {
		return "", false, nil
	}
	l.mu.Lock()
	k, hit := l.cache[key]
	l.mu.Unlock()
	if !hit {
		found := false
		if err := l.lookup(ctx, key, func(f Link) { k, found = f, true }); err != nil {
			return "", false, err
		}
		if !found {
			return "", false, nil
		}
	}
	now := l.now().UTC()
	l.mu.Lock()
	if !hit {
		if len(l.cache) >= maxCache {
			clear(l.cache) // simple bound; hot links come back at once
		}
		l.cache[key] = k
	}
	if len(l.pending) < maxQueued {
		l.pending[key] = append(l.pending[key], now)
	}
	l.mu.Unlock()
	return k.Target, true, nil
}

// lookup calls fn with the stored link of key, if there is one.
func (l *Links) lookup(_ context.Context, key string, fn func(Link)) error {
	var k Link
	err := l.st.View(func(txn *store.Txn) error { return store.GetJSON(txn, linkPfx+key, &k) })
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("short link: %w", err)
	}
	fn(k)
	return nil
}

// Run writes the counted clicks every FlushInterval until ctx ends, then
// once more.
func (l *Links) Run(ctx context.Context) error {
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return l.Flush()
		case <-t.C:
			if err := l.Flush(); err != nil {
				l.log.Warn("short links: storing clicks failed; retrying", "err", err)
			}
		}
	}
}

// Flush stores the clicks counted since the last flush.
func (l *Links) Flush() error {
	l.mu.Lock()
	batch := l.pending
	if len(batch) == 0 {
		l.mu.Unlock()
		return nil
	}
	l.pending = map[string][]time.Time{}
	l.mu.Unlock()
	err := l.st.Update(func(txn *store.Txn) error {
		hours := map[string]int{}
		for key, clicks := range batch {
			var k Link
			if err := store.GetJSON(txn, linkPfx+key, &k); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue // deleted meanwhile
				}
				return err
			}
			var n clickCount
			if err := store.GetJSON(txn, countPfx+key, &n); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			for _, at := range clicks {
				if n.N == 0 || at.Before(n.First) {
					n.First = at
				}
				if at.After(n.Last) {
					n.Last = at
				}
				n.N++
				hours[fmt.Sprintf("%s%s/%d", hourPfx, url.PathEscape(k.Campaign), at.Truncate(time.Hour).Unix())]++
			}
			if err := store.SetJSON(txn, countPfx+key, n); err != nil {
				return err
			}
		}
		for hk, add := range hours {
			var n int
			if err := store.GetJSON(txn, hk, &n); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := store.SetJSON(txn, hk, n+add); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Put them back so the next flush tries again.
		l.mu.Lock()
		for k, v := range batch {
			l.pending[k] = append(l.pending[k], v...)
		}
		l.mu.Unlock()
		return fmt.Errorf("store clicks: %w", err)
	}
	return nil
}

// Stats are a campaign's click statistics.
type Stats struct {
	Links int `json:"links"` // short links made
	// Recipients got at least one short link; Clicked clicked at least one.
	Recipients int `json:"recipients"`
	Clicked    int `json:"clicked"`
	Clicks     int `json:"clicks"` // all clicks, repeated ones included
	// PerRecipient is clicks by recipient sequence number.
	PerRecipient map[int]int `json:"per_recipient,omitempty"`
	First        time.Time   `json:"first,omitzero"`
	Last         time.Time   `json:"last,omitzero"`
	// Timeline is clicks per hour, oldest first.
	Timeline []HourClicks `json:"timeline,omitempty"`
}

// HourClicks is one hour of the timeline.
type HourClicks struct {
	Hour   time.Time `json:"hour"`
	Clicks int       `json:"clicks"`
}

// Rate is the click-through rate: recipients who clicked per recipient
// that was sent a link (0..1), or of sent when given.
func (s Stats) Rate(sent int) float64 {
	if sent <= 0 {
		sent = s.Recipients
	}
	if sent == 0 {
		return 0
	}
	return float64(s.Clicked) / float64(sent)
}

// Stats returns campaign's click statistics (clicks counted but not yet
// flushed included).
func (l *Links) Stats(ctx context.Context, campaign string) (Stats, error) {
	if err := l.Flush(); err != nil {
		return Stats{}, err
	}
	s := Stats{PerRecipient: map[int]int{}}
	seen := map[int]bool{}
	pfx := indexPfx + url.PathEscape(campaign) + "/"
	err := l.st.View(func(txn *store.Txn) error {
		err := store.Each(txn, pfx, func(k string, _ []byte) error {
			rest := strings.TrimPrefix(k, pfx)
			seqS, key, _ := strings.Cut(rest, "/")
			seq, _ := strconv.Atoi(seqS)
			s.Links++
			if !seen[seq] {
				seen[seq] = true
				s.Recipients++
			}
			var n clickCount
			if err := store.GetJSON(txn, countPfx+key, &n); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return ctx.Err()
				}
				return err
			}
			if s.PerRecipient[seq] == 0 && n.N > 0 {
				s.Clicked++
			}
			s.PerRecipient[seq] += n.N
			s.Clicks += n.N
			if !n.First.IsZero() && (s.First.IsZero() || n.First.Before(s.First)) {
				s.First = n.First
			}
			if n.Last.After(s.Last) {
				s.Last = n.Last
			}
			return ctx.Err()
		})
		if err != nil {
			return err
		}
		hp := hourPfx + url.PathEscape(campaign) + "/"
		return store.Each(txn, hp, func(k string, v []byte) error {
			sec, err := strconv.ParseInt(strings.TrimPrefix(k, hp), 10, 64)
			if err != nil {
				return nil
			}
			var n int
			if err := json.Unmarshal(v, &n); err != nil {
				return err
			}
			s.Timeline = append(s.Timeline, HourClicks{Hour: time.Unix(sec, 0).UTC(), Clicks: n})
			return nil
		})
	})
	for seq, n := range s.PerRecipient {
		if n == 0 {
			delete(s.PerRecipient, seq)
		}
	}
	sort.Slice(s.Timeline, func(i, j int) bool { return s.Timeline[i].Hour.Before(s.Timeline[j].Hour) })
	return s, err
}

// Clicks returns campaign's clicks by recipient sequence number.
func (l *Links) Clicks(ctx context.Context, campaign string) (map[int]int, error) {
	s, err := l.Stats(ctx, campaign)
	return s.PerRecipient, err
}
