// Package waemu is a local stand-in for Meta's WhatsApp Business Cloud API,
// for tests and `make run`. It enforces the rules the real service enforces
// — bearer token, phone-number id, request shape, templates (existence,
// status, language, parameter counts), the 24-hour customer-service window,
// throughput and pair rate — answers with the shapes of the examples in
// Meta's OpenAPI description, and sends signed status webhooks (sent →
// delivered → read, or failed) and injected inbound messages to a callback
// URL. It shares no code with the client on purpose: a misunderstanding of
// the API in one is caught by the other.
package waemu

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Options configure the emulator. Zero values take the defaults noted.
type Options struct {
	Token              string // bearer token the client must send; default "emu-token"
	PhoneNumberID      string // default "106540352242922"
	DisplayPhoneNumber string // default "15550783881"
	// Numbers are further phone numbers of the same business account:
	// each can send (POST /{its id}/messages), has its own customer-service
	// windows, and its inbound messages and statuses carry its metadata.
	Numbers []Number
	// Tier is the primary number's messaging limit tier as
	// GET /{phone-number-id} reports it (TIER_250 … TIER_UNLIMITED);
	// default TIER_1K.
	Tier        string
	WABAID      string // default "102290129340398"
	AppSecret   string // signs webhooks; default "emu-app-secret"
	CallbackURL string // where webhooks go; may be set later with SetCallbackURL

	Throughput   int           // messages per second per number; default 80
	PairInterval time.Duration // pair rate per recipient; default 6 s
	PairBurst    int           // default 3
	// StatusDelay is the pause between sent, delivered and read webhooks.
	StatusDelay time.Duration
	// NoRead stops status webhooks at delivered.
	NoRead bool
	// WebhookWorkers deliver status webhooks in parallel (messages in
	// parallel, each message's statuses in order); default 4.
	WebhookWorkers int

	Now        func() time.Time // injectable clock for the rate limits and window
	HTTPClient *http.Client     // for webhooks
	Logger     *slog.Logger
}

// Number is one more phone number of the emulated business account.
type Number struct {
	PhoneNumberID      string `json:"phone_number_id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	// Tier is its messaging limit tier; default TIER_1K.
	Tier string `json:"messaging_limit_tier,omitempty"`
}

// Server is the emulator; it is an http.Handler.
type Server struct {
	o Options

	mu          sync.Mutex
	callback    string
	templates   []Template
	media       map[string]*mediaObject
	inbound     map[string]time.Time  // phone_number_id + "|" + wa_id → last inbound message
	numbers     map[string]string     // phone_number_id → display number, all numbers
	received    map[string]string     // inbound wamid → phone_number_id it was sent to
	schemaOK    map[[32]byte]struct{} // message shapes that passed Meta's schema
	reads       []Read
	bucket      float64 // throughput tokens
	bucketAt    time.Time
	pairs       map[string]time.Time // recipient → GCRA theoretical arrival time
	failNext    map[string][]int     // recipient → error codes for the next sends
	failAsync   map[string]int       // recipient → code of a failed status
	failUploads []int                // error codes for the next media uploads
	phones      map[string]Phone     // phone_number_id → standing (default: defaultPhone)
	phoneReads  int
	sent        []Sent
	stats       Stats

	queue    chan statusJob
	inflight sync.WaitGroup
}

// Sent is an accepted send as the emulator saw it.
type Sent struct {
	WAMID string
	// From is the phone_number_id the message was sent from.
	From     string
	To       string
	Type     string
	Body     json.RawMessage
	Callback string
	At       time.Time
}

// Stats count what the emulator did.
type Stats struct {
	Accepted          int         `json:"accepted"`
	Rejected          map[int]int `json:"rejected"` // error code → count
	WebhooksDelivered int         `json:"webhooks_delivered"`
	WebhooksFailed    int         `json:"webhooks_failed"` // attempts the callback refused
}

// New returns an emulator with the default templates (see DefaultTemplates).
func New(o Options) *Server {
	if o.Token == "" {
		o.Token = "emu-token"
	}
	if o.PhoneNumberID == "" {
		o.PhoneNumberID = "106540352242922"
	}
	if o.DisplayPhoneNumber == "" {
		o.DisplayPhoneNumber = "15550783881"
	}
	if o.WABAID == "" {
		o.WABAID = "102290129340398"
	}
	if o.AppSecret == "" {
		o.AppSecret = "emu-app-secret"
	}
	if o.Throughput <= 0 {
		o.Throughput = 80
	}
	if o.PairInterval <= 0 {
		o.PairInterval = 6 * time.Second
	}
	if o.PairBurst <= 0 {
		o.PairBurst = 3
	}
	if o.WebhookWorkers <= 0 {
		o.WebhookWorkers = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: t}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	numbers := map[string]string{o.PhoneNumberID: o.DisplayPhoneNumber}
	for _, n := range o.Numbers {
		numbers[n.PhoneNumberID] = cmp.Or(n.DisplayPhoneNumber, n.PhoneNumberID)
	}
	s := &Server{
		o:         o,
		numbers:   numbers,
		received:  map[string]string{},
		schemaOK:  map[[32]byte]struct{}{},
		callback:  o.CallbackURL,
		templates: DefaultTemplates(),
		media:     map[string]*mediaObject{},
		inbound:   map[string]time.Time{},
		pairs:     map[string]time.Time{},
		failNext:  map[string][]int{},
		failAsync: map[string]int{},
		phones:    map[string]Phone{},
		bucket:    float64(o.Throughput),
		bucketAt:  o.Now(),
		stats:     Stats{Rejected: map[int]int{}},
		queue:     make(chan statusJob, 1<<16),
	}
	withTier := func(id, tier string) {
		if tier != "" {
			p := defaultPhone()
			p.Tier = tier
			s.phones[id] = p
		}
	}
	withTier(o.PhoneNumberID, o.Tier)
	for _, n := range o.Numbers {
		withTier(n.PhoneNumberID, n.Tier)
	}
	return s
}

// Options returns the effective options (token, ids, app secret).
func (s *Server) Options() Options { return s.o }

// SetCallbackURL sets where webhooks go.
func (s *Server) SetCallbackURL(u string) {
	s.mu.Lock()
	s.callback = u
	s.mu.Unlock()
}

// Run delivers status webhooks until ctx ends.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.o.WebhookWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-s.queue:
					s.deliverStatuses(ctx, j)
					s.inflight.Done()
				}
			}
		})
	}
	wg.Wait()
}

// Serve runs the emulator's API and webhook delivery on ln until ctx ends
// (for `make run` and cmd/waemu).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.Run(ctx)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Sent returns the accepted sends so far.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Stats returns counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Rejected = map[int]int{}
	for k, v := range s.stats.Rejected {
		st.Rejected[k] = v
	}
	return st
}

// FailNext makes the next sends to recipient fail with the given error
// codes, one code per send (e.g. 130429 twice, then success).
func (s *Server) FailNext(to string, codes ...int) {
	s.mu.Lock()
	s.failNext[digits(to)] = append(s.failNext[digits(to)], codes...)
	s.mu.Unlock()
}

// FailDelivery makes sends to recipient succeed at the API but end with a
// failed status webhook carrying code (e.g. 131026 undeliverable).
func (s *Server) FailDelivery(to string, code int) {
	s.mu.Lock()
	s.failAsync[digits(to)] = code
	s.mu.Unlock()
}

// WaitWebhooks blocks until every queued status webhook was delivered (or
// given up) or ctx ends.
func (s *Server) WaitWebhooks(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var versionRE = regexp.MustCompile(`^v\d+\.\d+$`)

// ServeHTTP routes Graph API paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) >= 1 && parts[0] == "_emu" {
		s.control(w, r, parts[1:])
		return
	}
	if len(parts) >= 1 && parts[0] == "_media" && len(parts) == 2 && r.Method == http.MethodGet {
		if !s.authorized(w, r) {
			return
		}
		s.downloadMedia(w, r, parts[1])
		return
	}
	if len(parts) < 2 || !versionRE.MatchString(parts[0]) {
		writeError(w, http.StatusBadRequest, 100, "GraphMethodException", "Unknown path components: "+r.URL.Path, "")
		return
	}
	if !s.authorized(w, r) {
		return
	}
	switch {
	case len(parts) == 3 && parts[2] == "messages" && r.Method == http.MethodPost:
		if !s.phoneNumber(w, parts[1]) {
			return
		}
		s.sendMessage(w, r, parts[1])
	case len(parts) == 3 && parts[2] == "media" && r.Method == http.MethodPost:
		if !s.phoneNumber(w, parts[1]) {
			return
		}
		s.uploadMedia(w, r)
	case len(parts) == 3 && parts[2] == "message_templates" && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		if parts[1] != s.o.WABAID {
			writeError(w, http.StatusBadRequest, 100, "GraphMethodException",
				fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", strings.ToLower(r.Method), parts[1]), "")
			return
		}
		if r.Method == http.MethodPost {
			s.createTemplate(w, r)
		} else {
			s.deleteTemplate(w, r)
		}
	case len(parts) == 3 && parts[2] == "message_templates" && r.Method == http.MethodGet:
		if parts[1] != s.o.WABAID {
			writeError(w, http.StatusBadRequest, 100, "GraphMethodException",
				fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", parts[1]), "")
			return
		}
		s.listTemplates(w, r)
	case len(parts) == 2 && r.Method == http.MethodPost && s.isTemplate(parts[1]):
		s.editTemplate(w, r, parts[1])
	case len(parts) == 2 && r.Method == http.MethodGet && s.isNumber(parts[1]):
		s.phoneInfo(w, r, parts[1])
	case len(parts) == 2 && r.Method == http.MethodGet:
		s.mediaInfo(w, r, parts[1])
	default:
		writeError(w, http.StatusBadRequest, 100, "GraphMethodException", "Unsupported "+strings.ToLower(r.Method)+" request: "+r.URL.Path, "")
	}
}

// isNumber reports whether id is one of the emulated phone numbers.
func (s *Server) isNumber(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.numbers[id]
	return ok
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || tok == "":
		s.reject(w, &apiErr{status: http.StatusUnauthorized, code: 190, msg: "An active access token must be used to query information about the current user."})
		return false
	case tok != s.o.Token:
		s.reject(w, &apiErr{status: http.StatusUnauthorized, code: 190, msg: "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons."})
		return false
	}
	return true
}

func (s *Server) phoneNumber(w http.ResponseWriter, id string) bool {
	if _, ok := s.numbers[id]; !ok {
		writeError(w, http.StatusBadRequest, 100, "GraphMethodException",
			fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", id), "")
		return false
	}
	return true
}

// writeError answers in the Graph API error shape.
func writeError(w http.ResponseWriter, status, code int, typ, msg, details string) {
	e := map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": randomID(12)}
	if details != "" {
		e["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": details}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
