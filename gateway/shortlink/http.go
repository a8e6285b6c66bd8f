package shortlink

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HandlerOptions configure the redirect endpoint.
type HandlerOptions struct {
	// PerMinute is how many redirects one client address gets a minute
	// (60); Burst how many at once (20).
	PerMinute, Burst int
	// ClientIP names the client of r (the portal's trusted-proxy rule);
	// nil: the connection's address.
	ClientIP func(r *http.Request) string
	Now      func() time.Time // nil: time.Now
}

// Handler serves GET <PathPrefix><key>: a 302 to the link's target, a
// click counted. It needs no login and says nothing but the target:
// unknown keys get a bare 404, and neither answer names the campaign or
// the recipient. Each client address is rate-limited (429 with
// Retry-After), so keys cannot be tried in bulk; with 72-bit keys that
// would be hopeless anyway.
func (l *Links) Handler(o HandlerOptions) http.Handler {
	if o.PerMinute <= 0 {
		o.PerMinute = 60
	}
	if o.Burst <= 0 {
		o.Burst = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientIP == nil {
		o.ClientIP = func(r *http.Request) string {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		}
	}
	return &redirector{l: l, o: o, buckets: map[string]*bucket{}}
}

type redirector struct {
	l *Links
	o HandlerOptions

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the limiter's memory against address spraying.
const maxBuckets = 50_000

// allow takes a token of ip's bucket; it returns how long to wait when
// there is none.
func (h *redirector) allow(ip string) time.Duration {
	now := h.o.Now()
	rate := float64(h.o.PerMinute) / 60 // tokens per second
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.buckets[ip]
	if b == nil {
		if len(h.buckets) >= maxBuckets {
			for k, v := range h.buckets { // drop the full (idle) ones
				if v.tokens+now.Sub(v.at).Seconds()*rate >= float64(h.o.Burst) {
					delete(h.buckets, k)
				}
			}
			if len(h.buckets) >= maxBuckets {
				return time.Minute
			}
		}
		b = &bucket{tokens: float64(h.o.Burst), at: now}
		h.buckets[ip] = b
	}
	b.tokens = min(float64(h.o.Burst), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	b.tokens--
	return 0
}

func (h *redirector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store") // every click reaches us
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Robots-Tag", "noindex")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if wait := h.allow(h.o.ClientIP(r)); wait > 0 {
		hdr.Set("Retry-After", strconv.Itoa(max(1, int(wait.Round(time.Second)/time.Second))))
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, PathPrefix)
	var target string
	var ok bool
	var err error
	if r.Method == http.MethodHead {
		// Link previews (messengers fetch HEAD) are not clicks.
		target, ok, err = h.l.resolve(r.Context(), key)
	} else {
		target, ok, err = h.l.Click(r.Context(), key)
	}
	switch {
	case err != nil:
		h.l.log.Warn("short link lookup failed", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
	case !ok:
		http.NotFound(w, r)
	default:
		http.Redirect(w, r, target, http.StatusFound)
	}
}

// resolve is Click without counting.
func (l *Links) resolve(ctx context.Context, key string) (string, bool, error) {
	if !ValidKey(key) {
		return "", false, nil
	}
	l.mu.Lock()
	k, hit := l.cache[key]
	l.mu.Unlock()
	if hit {
		return k.Target, true, nil
	}
	var target string
	var ok bool
	err := l.lookup(ctx, key, func(found Link) { target, ok = found.Target, true })
	return target, ok, err
}
